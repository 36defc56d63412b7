import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { resolveLimits, type TunnelLimits } from "../engine/limits.js";
import { TunnelServerEngine } from "../engine/server-engine.js";
import { NEGOTIATE_HEADER, NEGOTIATE_VALUE } from "../protocol/constants.js";
import { advertisesNegotiation } from "../protocol/negotiation.js";
import { serverCallConn } from "../transport/grpc-conn.js";
import {
  tunnelServiceDefinition,
  type OpenReverseTunnelServerCall,
  type OpenTunnelServerCall,
} from "../transport/tunnel-service.js";
import type { ServiceImpl, ServiceRegistrar } from "./service-impl.js";
import { ServiceRegistry } from "./service-registry.js";

export interface TunnelServiceHandlerOptions {
  /** Offer revision 0 only (no flow control), like Go's `DisableFlowControl`. */
  disableFlowControl?: boolean;
  limits?: Partial<TunnelLimits>;
}

/**
 * Implements `grpctunnel.v1.TunnelService` for a grpc-js server: serves the
 * services registered here over forward tunnels. Add it to a server with
 * `server.addService(...handler.service())`.
 */
export class TunnelServiceHandler implements ServiceRegistrar {
  private readonly registry = new ServiceRegistry();
  private readonly limits: TunnelLimits;
  private readonly flowControl: boolean;
  private shuttingDown = false;
  private readonly forwardTunnels = new Set<TunnelServerEngine>();

  constructor(options: TunnelServiceHandlerOptions = {}) {
    this.limits = resolveLimits(options.limits);
    this.flowControl = !options.disableFlowControl;
  }

  /** Registers a service for forward tunnels (generated `registerFooService` calls this). */
  registerService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.registry.registerService(service, impl);
  }

  /** The definition and implementation to pass to `grpc.Server.addService`. */
  service(): [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation] {
    return [
      tunnelServiceDefinition,
      {
        openTunnel: (call: OpenTunnelServerCall) => this.openTunnel(call),
        openReverseTunnel: (call: OpenReverseTunnelServerCall) => this.openReverseTunnel(call),
      },
    ];
  }

  /**
   * Starts graceful shutdown: new tunneled calls get UNAVAILABLE on every
   * tunnel, running ones finish. Pair with `grpc.Server.tryShutdown`.
   */
  initiateShutdown(): void {
    this.shuttingDown = true;
  }

  private openTunnel(call: OpenTunnelServerCall): void {
    if (this.registry.isEmpty) {
      call.emit("error", { code: Code.UNIMPLEMENTED, details: "forward tunnels not supported" });
      return;
    }
    sendNegotiationHeaders(call);
    const conn = serverCallConn(call);
    const engine = new TunnelServerEngine(conn, {
      flowControl: this.flowControl,
      peerAdvertised: advertisesNegotiation(call.metadata),
      tunnelMetadata: call.metadata,
      limits: this.limits,
      lookup: (method) => this.registry.lookup(method),
      isShuttingDown: () => this.shuttingDown,
    });
    this.forwardTunnels.add(engine);
    void engine.done.then(() => this.forwardTunnels.delete(engine));
    engine.start();
    conn.listen(engine);
  }

  private openReverseTunnel(call: OpenReverseTunnelServerCall): void {
    call.emit("error", new TunnelError(Code.UNIMPLEMENTED, "reverse tunnels not supported"));
  }
}

/**
 * The network server always advertises negotiation, at once, before any
 * frame: the client then never waits for a first message to see headers.
 */
function sendNegotiationHeaders(call: grpc.ServerDuplexStream<unknown, never>): void {
  const headers = new grpc.Metadata();
  headers.set(NEGOTIATE_HEADER, NEGOTIATE_VALUE);
  call.sendMetadata(headers);
}

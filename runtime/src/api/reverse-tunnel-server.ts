import type * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { resolveLimits, type TunnelLimits } from "../engine/limits.js";
import { TunnelServerEngine } from "../engine/server-engine.js";
import { toMetadata, type MetadataInit } from "../metadata.js";
import { OPEN_REVERSE_TUNNEL_PATH } from "../protocol/constants.js";
import { advertiseNegotiation, advertisesNegotiation } from "../protocol/negotiation.js";
import { clientCallConn } from "../transport/grpc-conn.js";
import { deserializeClientToServer, serializeServerToClient } from "../transport/tunnel-service.js";
import { awaitResponseHeaders } from "./response-headers.js";
import { serveWithReconnect, type ReconnectOptions } from "./reconnect.js";
import type { ServiceImpl, ServiceRegistrar } from "./service-impl.js";
import { ServiceRegistry } from "./service-registry.js";

export interface ReverseTunnelServerOptions {
  /** Use revision 0 (no flow control) even if the network server offers 1. */
  disableFlowControl?: boolean;
  limits?: Partial<TunnelLimits>;
}

export interface ServeOptions {
  /** Request metadata of the tunnel RPC (e.g. the agent's identity). */
  metadata?: MetadataInit;
  /** Aborting it ends the tunnel (and, with `reconnect`, stops reconnecting). */
  signal?: AbortSignal;
  /** grpc-js options for the tunnel RPC itself. */
  callOptions?: grpc.CallOptions;
  /**
   * Re-open the tunnel whenever it drops, with exponential backoff and
   * jitter, until `signal` aborts or the server stops. `serve` then resolves
   * only at that point.
   */
  reconnect?: boolean | ReconnectOptions;
}

/** What `serve` reports, like Go's `(started bool, err error)`. */
export interface ServeResult {
  /** False when the tunnel could not be opened at all. */
  started: boolean;
  /** Why the tunnel ended; undefined when the network server hung up cleanly. */
  error: TunnelError | undefined;
}

/**
 * Serves tunneled calls from the network server over reverse tunnels that
 * this process (the network client, e.g. an agent behind NAT) dials out.
 */
export class ReverseTunnelServer implements ServiceRegistrar {
  private readonly registry = new ServiceRegistry();
  private readonly limits: TunnelLimits;
  private readonly tunnels = new Set<TunnelServerEngine>();
  private draining = false;
  private stopped = false;
  private readonly stopController = new AbortController();

  constructor(
    private readonly client: grpc.Client,
    private readonly options: ReverseTunnelServerOptions = {},
  ) {
    this.limits = resolveLimits(options.limits);
  }

  /** Registers a service for the other side to call (generated `registerFooService` calls this). */
  registerService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void {
    this.registry.registerService(service, impl);
  }

  /** Number of reverse tunnels open now. */
  get activeTunnels(): number {
    return this.tunnels.size;
  }

  /**
   * Opens a reverse tunnel and serves calls until it ends. Several may run
   * at once. With `reconnect`, keeps re-opening it instead.
   */
  serve(options: ServeOptions = {}): Promise<ServeResult> {
    if (options.reconnect) {
      const reconnect = options.reconnect === true ? {} : options.reconnect;
      // Reconnecting ends when the caller aborts or the server stops; a
      // graceful stop ends it without cutting the open tunnel short.
      const stop =
        options.signal === undefined
          ? this.stopController.signal
          : AbortSignal.any([options.signal, this.stopController.signal]);
      return serveWithReconnect((onStarted) => this.serveOnce(options, onStarted), reconnect, stop);
    }
    return this.serveOnce(options);
  }

  /** Refuses new calls, waits for running ones, then closes every tunnel. */
  async gracefulStop(): Promise<void> {
    this.draining = true;
    this.stopController.abort();
    await Promise.all([...this.tunnels].map((engine) => engine.whenIdle()));
    this.stop();
  }

  /** Cancels every running call and closes every tunnel at once. */
  stop(): void {
    this.stopped = true;
    this.stopController.abort();
    for (const engine of [...this.tunnels]) {
      engine.close();
    }
  }

  private async serveOnce(options: ServeOptions, onStarted?: () => void): Promise<ServeResult> {
    if (this.stopped || this.draining) {
      return { started: false, error: new TunnelError(Code.UNAVAILABLE, "reverse tunnel server is stopped") };
    }
    const { signal } = options;
    if (signal?.aborted) {
      return { started: false, error: TunnelError.from(signal.reason, Code.CANCELLED) };
    }
    const metadata = advertiseNegotiation(toMetadata(options.metadata));
    const call = this.client.makeBidiStreamRequest(
      OPEN_REVERSE_TUNNEL_PATH,
      serializeServerToClient,
      deserializeClientToServer,
      metadata,
      options.callOptions ?? {},
    );
    let headers: grpc.Metadata;
    try {
      headers = await awaitResponseHeaders(call, signal);
    } catch (e) {
      call.cancel();
      return { started: false, error: TunnelError.from(e, Code.UNAVAILABLE) };
    }
    const conn = clientCallConn(call);
    const engine = new TunnelServerEngine(conn, {
      flowControl: !this.options.disableFlowControl,
      peerAdvertised: advertisesNegotiation(headers),
      tunnelMetadata: metadata,
      limits: this.limits,
      lookup: (method) => this.registry.lookup(method),
      isShuttingDown: () => this.draining,
    });
    this.tunnels.add(engine);
    engine.onEnd(() => this.tunnels.delete(engine));
    if (this.stopped) {
      engine.close();
    }
    const onAbort = () => {
      engine.abort(TunnelError.from(signal?.reason, Code.CANCELLED));
      call.cancel();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    engine.start();
    conn.listen(engine);
    onStarted?.();
    await engine.done;
    signal?.removeEventListener("abort", onAbort);
    return { started: true, error: engine.error };
  }
}

import * as grpc from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { TunnelClientEngine } from "../engine/client-engine.js";
import { resolveLimits, type TunnelLimits } from "../engine/limits.js";
import { TunnelServerEngine } from "../engine/server-engine.js";
import { NEGOTIATE_HEADER, NEGOTIATE_VALUE } from "../protocol/constants.js";
import { advertisesNegotiation } from "../protocol/negotiation.js";
import { serverCallConn } from "../transport/grpc-conn.js";
import { tunnelServiceDefinition, type OpenReverseTunnelServerCall, type OpenTunnelServerCall } from "../transport/tunnel-service.js";
import { ConnectionBudgets, admitTunnelCall } from "./connection-budgets.js";
import { RoundRobinChannel, type ReverseChannel, type ReverseChannels } from "./reverse-channel.js";
import { LocalReverseTunnelRegistry, type ReverseTunnelRegistry } from "./reverse-registry.js";
import { ServiceHost } from "./service-host.js";
import { tunnelChannel, type TunnelChannel } from "./tunnel-channel.js";

export interface TunnelServiceHandlerOptions<K = unknown> {
  /** Refuse reverse tunnels: `OpenReverseTunnel` answers UNIMPLEMENTED. */
  noReverseTunnels?: boolean;
  /**
   * Called once when a reverse tunnel is open and registered, i.e. ready for
   * calls (after negotiation). Exceptions are reported as process warnings.
   */
  onReverseTunnelOpen?: (tunnel: TunnelChannel) => void;
  /**
   * Called once when a registered reverse tunnel has ended, after it left
   * the registry (channels no longer pick it).
   */
  onReverseTunnelClose?: (tunnel: TunnelChannel) => void;
  /**
   * The affinity key of a reverse tunnel, computed once when its RPC
   * arrives, from its `metadata` (including what a server interceptor put
   * there after authenticating the call), `peer` or `authContext`. It runs
   * before the tunnel's protocol revision is negotiated, so it must not
   * start calls on the tunnel. Keys are compared like Map keys: by value for
   * strings and numbers, by identity for objects.
   *
   * Throwing refuses the tunnel before it starts: a thrown TunnelError (e.g.
   * UNAUTHENTICATED) is the status the network client's `serve` reports with
   * `started: false`; anything else is reported as INTERNAL. Without this
   * function every tunnel has the key `undefined`.
   */
  affinityKey?: (tunnel: TunnelChannel) => K;
  /**
   * At most this many reverse tunnels per affinity key; more are refused
   * with RESOURCE_EXHAUSTED (e.g. one per device). Unlimited by default.
   */
  maxReverseTunnelsPerKey?: number;
  /** Offer revision 0 only (no flow control), like Go's `DisableFlowControl`. */
  disableFlowControl?: boolean;
  limits?: Partial<TunnelLimits>;
  /** Where reverse tunnels are kept; an in-process registry by default. */
  registry?: ReverseTunnelRegistry<K>;
}

/**
 * Implements `grpctunnel.v1.TunnelService` for a grpc-js server: serves the
 * services registered here over forward tunnels, and keeps the reverse
 * tunnels clients open so the server can call them. Add it to a server with
 * `server.addService(...handler.service())`.
 */
export class TunnelServiceHandler<K = unknown> extends ServiceHost implements ReverseChannels<K> {
  private readonly reverse: ReverseTunnelRegistry<K>;
  private readonly limits: TunnelLimits;
  /** Memory budgets and tunnel counts per network connection (see TunnelLimits). */
  private readonly connections = new ConnectionBudgets();
  private shuttingDown = false;

  constructor(private readonly options: TunnelServiceHandlerOptions<K> = {}) {
    super();
    this.limits = resolveLimits(options.limits);
    this.reverse = options.registry ?? new LocalReverseTunnelRegistry<K>();
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
   * forward tunnel, running ones finish. Pair with `grpc.Server.tryShutdown`.
   */
  initiateShutdown(): void {
    this.shuttingDown = true;
  }

  /**
   * A channel over every reverse tunnel, round-robin per call. With none
   * open, calls fail with UNAVAILABLE. Throws if `noReverseTunnels` is set.
   */
  asChannel(): ReverseChannel {
    this.assertReverseTunnels();
    return new RoundRobinChannel(this.reverse, { all: true });
  }

  /**
   * A channel over the reverse tunnels whose affinity key equals `key` (by
   * value for strings and numbers), round-robin per call. With none open,
   * calls fail with UNAVAILABLE naming the key. Throws if `noReverseTunnels`
   * is set.
   */
  keyAsChannel(key: K): ReverseChannel {
    this.assertReverseTunnels();
    return new RoundRobinChannel(this.reverse, { all: false, key });
  }

  /** The reverse tunnels open and registered now (a tunnel leaves the moment it ends). */
  allReverseTunnels(): TunnelChannel[] {
    return this.reverse.list({ all: true });
  }

  private assertReverseTunnels(): void {
    if (this.options.noReverseTunnels) {
      throw new Error("reverse tunnels are disabled on this TunnelServiceHandler (noReverseTunnels)");
    }
  }

  private get flowControl(): boolean {
    return !this.options.disableFlowControl;
  }

  private openTunnel(call: OpenTunnelServerCall): void {
    if (this.registry.isEmpty) {
      call.emit("error", { code: Code.UNIMPLEMENTED, details: "forward tunnels not supported" });
      return;
    }
    const conn = serverCallConn(call);
    const lease = admitTunnelCall(this.connections, call, conn, this.limits);
    if (lease === undefined) {
      return;
    }
    sendNegotiationHeaders(call);
    const engine = new TunnelServerEngine(conn, {
      flowControl: this.flowControl,
      peerAdvertised: advertisesNegotiation(call.metadata),
      tunnelMetadata: call.metadata,
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
      limits: this.limits,
      memory: lease.memory,
      lookup: (method) => this.registry.lookup(method),
      isShuttingDown: () => this.shuttingDown,
    });
    engine.start();
    conn.listen(engine);
  }

  private openReverseTunnel(call: OpenReverseTunnelServerCall): void {
    if (this.options.noReverseTunnels) {
      call.emit("error", { code: Code.UNIMPLEMENTED, details: "reverse tunnels not supported" });
      return;
    }
    const conn = serverCallConn(call);
    const lease = admitTunnelCall(this.connections, call, conn, this.limits);
    if (lease === undefined) {
      return;
    }
    const engine = new TunnelClientEngine(conn, {
      flowControl: this.flowControl,
      expectSettings: advertisesNegotiation(call.metadata),
      limits: this.limits,
      memory: lease.memory,
    });
    const tunnel = tunnelChannel(engine, {
      direction: "reverse",
      metadata: call.metadata,
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
    });
    // The key is computed before the tunnel RPC answers, so a refusal reaches
    // the network client as the status of an RPC that never started.
    let key: K;
    try {
      key = this.options.affinityKey ? this.options.affinityKey(tunnel) : (undefined as K);
    } catch (e) {
      conn.abort(refusal(e));
      return;
    }
    const overLimit = this.keyLimitError(key);
    if (overLimit !== undefined) {
      conn.abort(overLimit);
      return;
    }
    sendNegotiationHeaders(call);
    conn.listen(engine);
    engine.ready.then(
      () => this.registerReverseTunnel(tunnel, engine, key),
      () => {}, // ended before negotiation finished: never registered
    );
  }

  /** The refusal for one more tunnel with `key`, if the key is at its limit. */
  private keyLimitError(key: K): TunnelError | undefined {
    const limit = this.options.maxReverseTunnelsPerKey;
    if (limit === undefined || this.reverse.list({ all: false, key }).length < limit) {
      return undefined;
    }
    return new TunnelError(Code.RESOURCE_EXHAUSTED, `too many reverse tunnels for this affinity key (limit ${limit})`);
  }

  private registerReverseTunnel(tunnel: TunnelChannel, engine: TunnelClientEngine, key: K): void {
    if (engine.closed) {
      return;
    }
    // Checked again: tunnels with the same key may have negotiated meanwhile.
    const overLimit = this.keyLimitError(key);
    if (overLimit !== undefined) {
      engine.abort(overLimit);
      return;
    }
    try {
      this.reverse.add(tunnel, key);
    } catch (e) {
      process.emitWarning(`grpctunnel: reverse tunnel registry refused a tunnel: ${TunnelError.from(e).rawMessage}`);
      engine.abort(new TunnelError(Code.INTERNAL, "could not register the reverse tunnel"));
      return;
    }
    // Runs synchronously as the tunnel ends: no later call can pick it.
    engine.onEnd(() => {
      this.reverse.remove(tunnel);
      notify(this.options.onReverseTunnelClose, tunnel);
    });
    notify(this.options.onReverseTunnelOpen, tunnel);
  }
}

/**
 * The status that refuses a reverse tunnel whose affinity key could not be
 * computed: a thrown TunnelError as is; anything else is an INTERNAL error
 * whose details stay in this process.
 */
function refusal(e: unknown): TunnelError {
  if (e instanceof TunnelError) {
    return TunnelError.from(e); // as is, unless it only carries the brand
  }
  process.emitWarning(`grpctunnel: affinityKey threw, reverse tunnel refused: ${TunnelError.from(e).rawMessage}`);
  return new TunnelError(Code.INTERNAL, "could not compute the reverse tunnel's affinity key");
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

/** Runs a user callback; its failure must not take the tunnel or server down. */
function notify(callback: ((tunnel: TunnelChannel) => void) | undefined, tunnel: TunnelChannel): void {
  try {
    callback?.(tunnel);
  } catch (e) {
    process.emitWarning(`grpctunnel: reverse tunnel callback threw: ${TunnelError.from(e).rawMessage}`);
  }
}

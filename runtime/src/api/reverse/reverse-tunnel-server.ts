import type * as grpc from "@grpc/grpc-js";
import { Code } from "../../code.js";
import type { TunnelEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import type { TunnelInfo } from "../../diagnostics/events.js";
import { isUndecodable, type FrameSink, type UndecodableFrame } from "../../engine/frame-conn.js";
import { resolveLimits, type TunnelLimits } from "../../engine/limits.js";
import { TunnelServerEngine } from "../../engine/server-engine.js";
import { ProtocolRevision, type ClientToServer, type ServerToClient } from "../../gen/grpctunnel/v1/tunnel_pb.js";
import { toMetadata, type MetadataInit } from "../../metadata.js";
import { OPEN_REVERSE_TUNNEL_PATH } from "../../protocol/constants.js";
import { advertiseNegotiation, advertisesNegotiation, supportedRevisions } from "../../protocol/negotiation.js";
import { deserializeClientToServer, serializeServerToClient } from "../../transport/tunnel-service.js";
import { ConnectionBudgets, dialTunnel, LiveTunnels, type DialedTunnel } from "../tunnels/index.js";
import { callSafely, resolveReconnectOptions, serveWithReconnect, type ReconnectOptions } from "./reconnect.js";
import type { Interceptor } from "../interceptors/index.js";
import { ServiceHost } from "../serve/index.js";

/** Options of a ReverseTunnelServer, for every tunnel it serves. */
export interface ReverseTunnelServerOptions {
  /**
   * Offer protocol revision 0 only (no flow control) even when the network
   * server supports revision 1. Like Go's `WithDisableFlowControl`: meant for
   * testing interop with old peers, not for applications.
   */
  disableFlowControl?: boolean;
  /** Per-tunnel limits (windows, message and metadata sizes, ...); unset ones keep their defaults. */
  limits?: Partial<TunnelLimits>;
  /**
   * Wrap every typed implementation registered on this server (e.g. to
   * check an auth token, log, trace); the first is outermost. Their
   * requests carry the handler's `context`.
   */
  interceptors?: Interceptor[];
}

/** Options of one `ReverseTunnelServer.serve`. */
export interface ServeOptions {
  /** Request metadata of the tunnel RPC (e.g. the agent's identity), the network server's "tunnel metadata". */
  metadata?: MetadataInit;
  /**
   * Aborting it ends the tunnel (its running calls are cancelled) and, with
   * `reconnect`, stops reconnecting — also during a backoff wait.
   */
  signal?: AbortSignal;
  /**
   * grpc-js options for the tunnel RPC itself (credentials, ...). A
   * `deadline` here limits the whole tunnel's life (and, being absolute,
   * every later `reconnect` attempt too). Dead connections (e.g. an expired
   * NAT mapping) are noticed by HTTP/2 keepalive pings, which
   * `TunnelServiceClient` sends by default (within 30 s); other grpc-js
   * clients need `grpc.keepalive_time_ms` set.
   */
  callOptions?: grpc.CallOptions;
  /**
   * Called when the tunnel is open and serving (in `reconnect` mode: each
   * time). The tunnel may not be registered on the network server yet: it
   * registers it once it has read this side's Settings, a moment later.
   */
  onOpen?: (tunnel: ReverseTunnel) => void;
  /**
   * Keep-alive mode: re-open the tunnel whenever it drops or cannot be
   * opened, with exponential backoff and jitter, until `signal` aborts or
   * the server is stopped. `serve` then resolves only at that point, with
   * the last tunnel's result. `true` uses the defaults of ReconnectOptions.
   * Without it, a tunnel that cannot be opened is also reported as a
   * process warning (see `serve`).
   *
   * ```ts
   * const result = await rts.serve({
   *   metadata: { "agent-id": id },
   *   signal: shutdown.signal,
   *   reconnect: {
   *     maxBackoffMs: 10_000,
   *     onConnect: (t) => log.info(`tunnel up (revision ${t.protocolRevision ?? "?"})`),
   *     onDisconnect: (r, retry) =>
   *       log.warn(`${r.started ? "tunnel lost" : "could not connect"}: ${r.error?.message ?? "closed by server"}; retry in ${retry?.delayMs} ms`),
   *   },
   * });
   * ```
   */
  reconnect?: boolean | ReconnectOptions;
}

/**
 * What `serve` reports, like Go's `(started bool, err error)`: how the
 * tunnel ended (`error` is undefined when it ended cleanly: the network
 * server hung up, or this side closed it with `stop`, `gracefulStop` or
 * `ReverseTunnel.close`), and whether it started at all.
 */
export interface ServeResult extends TunnelEnd {
  /**
   * False when the tunnel could not be opened at all: the network server was
   * unreachable, refused it (e.g. UNIMPLEMENTED, UNAUTHENTICATED), the
   * signal aborted first, or this server was already stopping.
   */
  readonly started: boolean;
}

/** One open reverse tunnel, as the network client that dialed it sees it. */
export interface ReverseTunnel {
  /** Request metadata of the tunnel RPC as sent (with the negotiation header). */
  readonly metadata: grpc.Metadata;
  /** Response headers of the tunnel RPC from the network server. */
  readonly responseHeaders: grpc.Metadata;
  /** The network server's address, as grpc-js reports it. */
  readonly peer: string;
  /**
   * True when the network server advertised negotiation, so this side sent
   * Settings offering `offeredRevisions`. False with a legacy network server:
   * every call is then revision 0.
   */
  readonly negotiated: boolean;
  /** The revisions this side offered: [0, 1]; [0] with `disableFlowControl`; [] when not negotiated. */
  readonly offeredRevisions: readonly (0 | 1)[];
  /**
   * The protocol revision the network server chose for its latest call on
   * this tunnel (1: flow-controlled), or undefined before its first call.
   */
  readonly protocolRevision: 0 | 1 | undefined;
  /** Calls running on this tunnel now. */
  readonly activeCalls: number;
  /** True once this tunnel has ended. */
  readonly closed: boolean;
  /** Resolves with what `serve` reports for this tunnel, when it has ended. */
  readonly done: Promise<ServeResult>;
  /** Closes this tunnel cleanly, cancelling its running calls. In `reconnect` mode a new one follows. */
  close(): void;
}

/**
 * Serves tunneled calls from the network server over reverse tunnels that
 * this process (the network client, e.g. an agent behind NAT) dials out:
 * Go's `ReverseTunnelServer`. Register services, then `serve()` once per
 * tunnel wanted (several may run at once), or once with `reconnect` to keep
 * a tunnel up.
 *
 * ```ts
 * const client = new TunnelServiceClient(address, credentials); // keepalive pings by default
 * const rts = new ReverseTunnelServer(client);
 * registerFooService(rts, fooImpl);
 * const { started, error } = await rts.serve({ metadata: { "agent-id": id }, signal });
 * // ...or stay connected across server restarts and network failures:
 * await rts.serve({ metadata: { "agent-id": id }, signal, reconnect: true });
 * ```
 */
export class ReverseTunnelServer extends ServiceHost {
  private readonly limits: TunnelLimits;
  private readonly tunnels = new LiveTunnels<TunnelServerEngine>();
  /** The memory budget of the connection through `client`, shared by its tunnels. */
  private readonly connection = new ConnectionBudgets();
  private draining = false;
  private stopped = false;
  /** Aborted by gracefulStop/stop: ends pending opens and reconnect loops. */
  private readonly stopController = new AbortController();

  constructor(
    private readonly client: grpc.Client,
    private readonly options: ReverseTunnelServerOptions = {},
  ) {
    super(options.interceptors);
    this.limits = resolveLimits(options.limits);
  }

  /** Number of reverse tunnels open now. */
  get activeTunnels(): number {
    return this.tunnels.size;
  }

  /** The reverse tunnels open now, with live figures (for status pages and diagnostics). */
  listTunnels(): TunnelInfo[] {
    return [...this.tunnels].map((engine) => engine.info);
  }

  /**
   * Opens a reverse tunnel and serves calls until it ends; resolves with
   * `{ started, error }` and never rejects (invalid `reconnect` options throw
   * a RangeError at once). Several may run at once. With `reconnect`, keeps
   * re-opening the tunnel instead.
   *
   * So that a failure to connect never passes unnoticed, without
   * `reconnect` a tunnel that could not be opened (`started: false`: the
   * server was unreachable or refused it) is also reported as a process
   * warning with code `GRPCTUNNEL_SERVE_NOT_STARTED` — unless `signal`
   * aborted or this server was stopped, which the caller asked for.
   * (`process.on("warning", ...)` sees it; with `reconnect`, `onDisconnect`
   * reports every attempt instead.)
   */
  serve(options: ServeOptions = {}): Promise<ServeResult> {
    if (options.reconnect) {
      const reconnect = resolveReconnectOptions(options.reconnect === true ? {} : options.reconnect);
      // Reconnecting ends when the caller aborts or the server stops; a
      // graceful stop ends it without cutting the open tunnel short.
      const stop = anySignal(options.signal, this.stopController.signal);
      return serveWithReconnect(
        (onOpen) =>
          this.serveOnce(options, (tunnel) => {
            onOpen(tunnel);
            callSafely("onOpen", options.onOpen, tunnel);
          }),
        reconnect,
        stop,
      );
    }
    return this.serveOnce(options, (tunnel) => callSafely("onOpen", options.onOpen, tunnel)).then((result) => {
      if (!result.started && !options.signal?.aborted && !this.stopController.signal.aborted) {
        process.emitWarning(`grpctunnel: reverse tunnel could not be opened: ${result.error?.message ?? "unknown error"}`, {
          code: NOT_STARTED_WARNING,
        });
      }
      return result;
    });
  }

  /**
   * Graceful stop: new calls are refused with UNAVAILABLE ("server is
   * shutting down") and no response headers, which the network server
   * takes as "this tunnel is draining": it stops picking the tunnel and
   * retries the refused call on another tunnel of the key, if there is one.
   * Tunnels still opening are abandoned and reconnect loops end; each tunnel
   * closes once its running calls have finished, and this resolves when all
   * are closed. After `graceMs` (unlimited by default), or on `stop()`, the
   * calls still running are cancelled.
   */
  async gracefulStop(options: { graceMs?: number } = {}): Promise<void> {
    this.draining = true;
    this.stopController.abort(stoppedError());
    const { graceMs } = options;
    const cutShort = graceMs === undefined ? undefined : setTimeout(() => this.stop(), graceMs);
    await this.tunnels.closeWhenIdle();
    clearTimeout(cutShort);
    this.stop();
  }

  /**
   * Immediate stop: cancels every running call (their handlers' signals
   * abort), closes every tunnel, abandons tunnels still opening and ends
   * reconnect loops. The server cannot be used again.
   */
  stop(): void {
    this.stopped = true;
    this.stopController.abort(stoppedError());
    this.tunnels.endAll();
  }

  private async serveOnce(options: ServeOptions, onOpen: (tunnel: ReverseTunnel) => void): Promise<ServeResult> {
    if (this.stopped || this.draining) {
      return { started: false, error: stoppedError() };
    }
    const { signal } = options;
    if (signal?.aborted) {
      return { started: false, error: TunnelError.from(signal.reason, Code.CANCELLED) };
    }
    const metadata = advertiseNegotiation(toMetadata(options.metadata));
    let dialed: DialedTunnel<ServerToClient, ClientToServer | UndecodableFrame>;
    try {
      dialed = await dialTunnel(this.client, OPEN_REVERSE_TUNNEL, {
        metadata,
        callOptions: options.callOptions,
        signal: anySignal(signal, this.stopController.signal),
        budgets: this.connection,
        limits: this.limits,
        stillWanted: () =>
          this.stopped || this.draining || signal?.aborted
            ? signal?.aborted
              ? TunnelError.from(signal.reason, Code.CANCELLED)
              : stoppedError()
            : undefined,
      });
    } catch (e) {
      // e.g. the grpc-js client was closed ("Channel has been shut down").
      return { started: false, error: TunnelError.from(e, Code.UNAVAILABLE) };
    }
    const { call, conn, headers, lease } = dialed;
    const flowControl = !this.options.disableFlowControl;
    const negotiated = advertisesNegotiation(headers);
    const engine = new TunnelServerEngine(conn, {
      flowControl,
      peerAdvertised: negotiated,
      tunnelMetadata: metadata,
      peer: call.getPeer(),
      // The network server's side of the connection (its certificate with TLS), as grpc-js reports it.
      authContext: call.getAuthContext() ?? {},
      limits: this.limits,
      memory: lease.memory,
      direction: "reverse",
      lookup: (method) => this.registry.lookup(method),
      isShuttingDown: () => this.draining || this.stopped,
    });
    this.tunnels.add(engine);
    const done = engine.done.then(({ error }): ServeResult => ({ started: true, error }));
    const tunnel = new OpenReverseTunnel(engine, done, flowControl, {
      metadata,
      responseHeaders: headers,
      peer: call.getPeer(),
      negotiated,
      offeredRevisions: negotiated ? (supportedRevisions(flowControl) as (0 | 1)[]) : [],
    });
    const onAbort = () => engine.abort(TunnelError.from(signal?.reason, Code.CANCELLED));
    signal?.addEventListener("abort", onAbort, { once: true });
    engine.start();
    engine.announceOpen();
    conn.listen(tunnel.observe(engine));
    onOpen(tunnel);
    const result = await done;
    signal?.removeEventListener("abort", onAbort);
    return result;
  }
}

class OpenReverseTunnel implements ReverseTunnel {
  readonly metadata: grpc.Metadata;
  readonly responseHeaders: grpc.Metadata;
  readonly peer: string;
  readonly negotiated: boolean;
  readonly offeredRevisions: readonly (0 | 1)[];
  protocolRevision: 0 | 1 | undefined;

  constructor(
    private readonly engine: TunnelServerEngine,
    readonly done: Promise<ServeResult>,
    private readonly flowControl: boolean,
    init: Pick<ReverseTunnel, "metadata" | "responseHeaders" | "peer" | "negotiated" | "offeredRevisions">,
  ) {
    this.metadata = init.metadata;
    this.responseHeaders = init.responseHeaders;
    this.peer = init.peer;
    this.negotiated = init.negotiated;
    this.offeredRevisions = init.offeredRevisions;
  }

  get activeCalls(): number {
    return this.engine.activeStreams;
  }

  get closed(): boolean {
    return this.engine.closed;
  }

  close(): void {
    this.engine.close();
  }

  /** Passes inbound frames to the engine, noting the revision of each call it accepts. */
  observe(sink: FrameSink<ClientToServer>): FrameSink<ClientToServer> {
    return {
      receive: (frame: ClientToServer | UndecodableFrame) => {
        if (!isUndecodable(frame) && frame.frame.case === "newStream") {
          const revision = frame.frame.value.protocolRevision;
          if (revision === ProtocolRevision.REVISION_ZERO || (revision === ProtocolRevision.REVISION_ONE && this.flowControl)) {
            this.protocolRevision = revision;
          }
        }
        sink.receive(frame);
      },
      transportEnded: (error) => sink.transportEnded(error),
    };
  }
}

const OPEN_REVERSE_TUNNEL = { path: OPEN_REVERSE_TUNNEL_PATH, serialize: serializeServerToClient, deserialize: deserializeClientToServer };

/** The code of the process warning for a `serve` (without `reconnect`) that could not open its tunnel. */
export const NOT_STARTED_WARNING = "GRPCTUNNEL_SERVE_NOT_STARTED";

function stoppedError(): TunnelError {
  return new TunnelError(Code.UNAVAILABLE, "reverse tunnel server is stopped");
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length === 1 ? present[0] : AbortSignal.any(present);
}

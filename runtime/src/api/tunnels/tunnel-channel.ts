import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import type { CallEnd, TunnelEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import type { AuthContext } from "../../engine/auth-context.js";
import type { TunnelClientEngine } from "../../engine/client-engine.js";
import { toMetadata } from "../../metadata.js";
import type { CallChannel } from "../client/index.js";
import { callDeadline, type CallOptions } from "../client/index.js";
import type { CallStream } from "../client/index.js";

/**
 * One tunnel on which this side starts calls: a forward tunnel opened with
 * `openTunnel`, or a reverse tunnel a client opened to this server. Make
 * calls with the generated `*TunnelClient` classes, `createTunnelClient` or
 * the typed call functions.
 */
export interface TunnelChannel extends CallChannel {
  /** Request metadata of the tunnel RPC (Go's tunnel metadata). */
  readonly metadata: Metadata;
  /** "forward": we dialed and call the server; "reverse": a client dialed us and we call it. */
  readonly direction: "forward" | "reverse";
  /** The network peer at the other end of the tunnel RPC. */
  readonly peer: string;
  /** For reverse tunnels: the tunnel RPC's transport security (e.g. the client certificate). */
  readonly authContext: AuthContext | undefined;
  /**
   * A reverse tunnel's affinity key on the network server (a string in
   * cluster mode), once the handler's `affinityKey` computed it; undefined
   * before that, for forward tunnels, and without an `affinityKey` option.
   */
  readonly key: unknown;
  /** The protocol revision in use: 1 with flow control, 0 without. */
  readonly protocolRevision: 0 | 1;
  /** Number of calls in flight on this tunnel. */
  readonly activeCalls: number;
  /**
   * True once the tunnel takes no new calls while its running ones finish:
   * its peer refused a call with UNAVAILABLE before any handler saw it (an
   * agent stopping gracefully answers "server is shutting down"), or this
   * side is ending it (`TunnelServiceHandler.drain`, a reverse tunnel
   * replaced by a newer one for its key), or its peer ended the tunnel RPC
   * and the tunnel closes a moment later. Round-robin channels skip it and
   * `startCall` on it throws UNAVAILABLE.
   */
  readonly draining: boolean;
  /** True once the tunnel has ended. */
  readonly closed: boolean;
  /** Resolves (never rejects) with how the tunnel ended; `error` is undefined for a clean end. */
  readonly done: Promise<TunnelEnd>;
  /** Cancels every call and ends the tunnel RPC. */
  close(): void;
}

/** What a TunnelChannel knows besides its engine. */
export interface TunnelChannelInit {
  direction: "forward" | "reverse";
  metadata: Metadata;
  peer: string;
  authContext?: AuthContext;
  /**
   * Whether a call refused with UNAVAILABLE marks the tunnel draining (the
   * default). Relay tunnels between replicas say no: there such a refusal
   * is about one key, not the peer.
   */
  drainOnRefusal?: boolean;
}

/** What the runtime can do with the tunnels it makes, beyond the public TunnelChannel. */
export interface ManagedTunnelChannel extends TunnelChannel {
  /** Stops taking new calls (running ones go on); `reason` is what later `startCall`s throw. False if already draining. */
  drain(reason: TunnelError): boolean;
  /** Calls `listener` synchronously when the tunnel starts draining (whoever decided it). */
  onDraining(listener: () => void): void;
  /** Sets `key` once the handler computed the tunnel's affinity key. */
  setKey(key: unknown): void;
}

/** The TunnelChannel over an engine (the runtime makes these; users get them from openTunnel and the handler). */
export function tunnelChannel(engine: TunnelClientEngine, init: TunnelChannelInit): ManagedTunnelChannel {
  return new EngineTunnelChannel(engine, init);
}

class EngineTunnelChannel implements ManagedTunnelChannel {
  readonly metadata: Metadata;
  readonly direction: "forward" | "reverse";
  readonly peer: string;
  readonly authContext: AuthContext | undefined;
  readonly done: Promise<TunnelEnd>;
  key: unknown = undefined;
  private drainReason: TunnelError | undefined;
  private drainListeners: Array<() => void> = [];
  // Marks the tunnel draining when its peer refuses a call as unavailable.
  private watchRefusal: ((end: CallEnd) => void) | undefined = (end: CallEnd) => {
    if (end.refused && end.error?.code === Code.UNAVAILABLE) {
      this.drain(end.error);
    }
  };

  constructor(
    private readonly engine: TunnelClientEngine,
    init: TunnelChannelInit,
  ) {
    this.direction = init.direction;
    this.metadata = init.metadata;
    this.peer = init.peer;
    this.authContext = init.authContext;
    this.done = engine.done;
    if (init.drainOnRefusal === false) {
      this.watchRefusal = undefined;
    }
    // Registries skip a draining tunnel: none picks one whose end is only being confirmed.
    engine.onPeerEnding((reason) => this.drain(reason));
  }

  get closed(): boolean {
    return this.engine.closed;
  }

  get protocolRevision(): 0 | 1 {
    return this.engine.protocolRevision === 1 ? 1 : 0;
  }

  get activeCalls(): number {
    return this.engine.activeStreams;
  }

  get draining(): boolean {
    return this.drainReason !== undefined;
  }

  close(): void {
    this.engine.close();
  }

  drain(reason: TunnelError): boolean {
    if (this.drainReason !== undefined) {
      return false;
    }
    this.drainReason = reason;
    const listeners = this.drainListeners;
    this.drainListeners = [];
    for (const listener of listeners) {
      listener();
    }
    return true;
  }

  setKey(key: unknown): void {
    this.key = key;
  }

  onDraining(listener: () => void): void {
    if (this.drainReason !== undefined) {
      listener();
    } else {
      this.drainListeners.push(listener);
    }
  }

  startCall(method: string, options: CallOptions = {}): CallStream {
    if (this.drainReason !== undefined && !this.engine.closed) {
      // Refused before the transport saw it: the same status the peer gave.
      throw new TunnelError(Code.UNAVAILABLE, this.drainReason.rawMessage);
    }
    // No metadata: none to copy (most calls).
    const metadata = options.metadata === undefined ? undefined : toMetadata(options.metadata);
    const stream = this.engine.openStream(method, metadata, {
      deadline: callDeadline(options),
      signal: options.signal,
      onHeader: options.onHeader,
      onEnd: this.watchRefusal,
    });
    options.onTunnel?.(this);
    return stream;
  }
}

/** True for a TunnelChannel (one tunnel), as opposed to e.g. a round-robin channel over several. */
export function isTunnelChannel(channel: CallChannel): channel is TunnelChannel {
  const candidate = channel as Partial<TunnelChannel>;
  return typeof candidate.close === "function" && typeof candidate.closed === "boolean" && candidate.done instanceof Promise;
}

import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "../engine/auth-context.js";
import type { TunnelError } from "../errors.js";
import type { ClientStream } from "../engine/client-stream.js";
import type { TunnelClientEngine } from "../engine/client-engine.js";
import { toMetadata } from "../metadata.js";
import { AbstractCallChannel } from "./call-channel.js";
import { callDeadline, type CallOptions } from "./call-options.js";

export interface TunnelChannelInit {
  engine: TunnelClientEngine;
  /** "forward": we dialed and call the server; "reverse": a client dialed us and we call it. */
  direction: "forward" | "reverse";
  /** Request metadata of the tunnel RPC. */
  metadata: Metadata;
  /** The network peer, as grpc-js reports it. */
  peer: string;
  /** The transport security of the tunnel RPC, for reverse tunnels (grpc-js server side). */
  authContext?: AuthContext;
}

/**
 * One tunnel on which this side starts calls: a forward tunnel opened with
 * `openTunnel`, or a reverse tunnel a client opened to this server. Make
 * calls with the generated `*TunnelClient` classes or the typed methods.
 */
export class TunnelChannel extends AbstractCallChannel {
  /** Request metadata of the tunnel RPC (Go's tunnel metadata). */
  readonly metadata: Metadata;
  readonly direction: "forward" | "reverse";
  /** The network peer at the other end of the tunnel RPC. */
  readonly peer: string;
  /** For reverse tunnels: the tunnel RPC's transport security (e.g. the client certificate). */
  readonly authContext: AuthContext | undefined;
  /** Resolves when the tunnel has ended. */
  readonly done: Promise<void>;
  private readonly engine: TunnelClientEngine;

  constructor(init: TunnelChannelInit) {
    super();
    this.engine = init.engine;
    this.direction = init.direction;
    this.metadata = init.metadata;
    this.peer = init.peer;
    this.authContext = init.authContext;
    this.done = init.engine.done;
  }

  /** Why the tunnel ended; undefined while it is open and after a clean end. */
  get err(): TunnelError | undefined {
    return this.engine.error;
  }

  get closed(): boolean {
    return this.engine.closed;
  }

  /** The protocol revision in use: 1 with flow control, 0 without. */
  get protocolRevision(): 0 | 1 {
    return this.engine.protocolRevision === 1 ? 1 : 0;
  }

  /** Number of calls in flight on this tunnel. */
  get activeCalls(): number {
    return this.engine.activeStreams;
  }

  /** Cancels every call and ends the tunnel RPC. */
  close(): void {
    this.engine.close();
  }

  startStream(method: string, options: CallOptions = {}): ClientStream {
    options.onTunnel?.(this);
    return this.engine.openStream(method, toMetadata(options.metadata), {
      deadline: callDeadline(options),
      signal: options.signal,
      onHeaders: options.onHeader,
    });
  }
}

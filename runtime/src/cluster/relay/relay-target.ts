import type { Metadata } from "@grpc/grpc-js";
import type { CallChannel } from "../../api/client/index.js";
import type { CallOptions } from "../../api/client/index.js";
import type { CallStream } from "../../api/client/index.js";
import type { TunnelChannel } from "../../api/tunnels/index.js";
import { Code } from "../../code.js";
import type { CallEnd } from "../../ended.js";
import type { TunnelError } from "../../errors.js";
import { toMetadata } from "../../metadata.js";
import { setRelayKey } from "./relay-metadata.js";

/**
 * Another replica as the target of a call: starts it on this replica's
 * tunnel to that replica's relay listener, with the affinity key in the
 * call's metadata. The owner starts it on its own tunnel for the key.
 */
export class RelayTarget implements CallChannel {
  constructor(
    /** The replica the call is relayed to. */
    readonly replicaId: string,
    private readonly tunnel: TunnelChannel,
    private readonly key: string,
    /** True once this replica closed its peer tunnels itself. */
    private readonly closing: () => boolean,
    /** Told of each call it starts (diagnostics). */
    private readonly onStart: (method: string) => void = () => {},
  ) {}

  startCall(method: string, options: CallOptions = {}): CallStream {
    this.onStart(method);
    const metadata = toMetadata(options.metadata);
    setRelayKey(metadata, this.key);
    const seen = { headers: false };
    const holder: { stream?: CallStream } = {};
    const stream = this.tunnel.startCall(method, {
      ...options,
      metadata,
      onTunnel: undefined, // the tunnel between replicas is not the agent's
      onHeader: (headers: Metadata) => {
        // Defence in depth, equivalent alone: the retrying call commits a call on headers too (never retried).
        // Stryker disable next-line ConditionalExpression,BlockStatement: see above (stale-routes.test.ts "answered with headers")
        if (holder.stream !== undefined && !holder.stream.closed) {
          // Stryker disable next-line BooleanLiteral: see above
          seen.headers = true; // a handler answered (end-of-call headers are empty placeholders)
        }
        options.onHeader?.(headers);
      },
    });
    holder.stream = stream;
    return new RelayedCall(stream, this.refusedIfUnseen(stream, seen));
  }

  /**
   * How a relayed call ended, as the retrying call needs it. The owner's
   * relay listener ends a tunnel cleanly only once every call it accepted
   * on it has finished (each one's end arrived before the tunnel's); so a
   * call without an answer on a tunnel that ended cleanly — not closed by
   * this replica — never reached the owner's handlers: a refusal, safe to
   * send elsewhere (like HTTP/2's GOAWAY for streams above the last one).
   */
  private async refusedIfUnseen(stream: CallStream, seen: { headers: boolean }): Promise<CallEnd> {
    const end = await stream.done;
    if (end.refused || seen.headers || end.error?.code !== Code.UNAVAILABLE || !this.tunnel.closed || this.closing()) {
      return end;
    }
    const tunnelEnd = await this.tunnel.done;
    return tunnelEnd.error === undefined ? { ...end, refused: true } : end;
  }
}

/** A call on a relay tunnel, whose end is reported as `done` says. */
class RelayedCall implements CallStream {
  constructor(
    private readonly stream: CallStream,
    readonly done: Promise<CallEnd>,
  ) {}

  get method(): string {
    return this.stream.method;
  }

  get closed(): boolean {
    return this.stream.closed;
  }

  send(message: Uint8Array): Promise<void> {
    return this.stream.send(message);
  }

  closeSend(): void {
    this.stream.closeSend();
  }

  read(): Promise<Uint8Array | undefined> {
    return this.stream.read();
  }

  cancel(reason?: TunnelError): void {
    this.stream.cancel(reason);
  }
}

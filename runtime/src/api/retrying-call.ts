import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { deferred, type Deferred } from "../deferred.js";
import type { CallEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import { callDeadline, type CallOptions } from "./call-options.js";
import type { CallStream } from "./call-stream.js";
import type { TunnelChannel } from "./tunnel-channel.js";

/**
 * Transparent retry of refused calls, for channels that can choose among
 * several tunnels (the round-robin reverse channels): like HTTP/2's
 * REFUSED_STREAM, or grpc-js's transparent retry of calls that never left the
 * client. A call the server refused before any handler saw it (`CallEnd.refused`),
 * or that could not even be started on the tunnel picked for it (closed or
 * draining meanwhile), is started once more on another tunnel; the requests
 * sent so far are replayed from a bounded buffer, then the half-close. The
 * caller sees nothing of the first attempt.
 *
 * A call is *committed* — never retried — once response headers or a
 * response arrived (a handler saw it), once its requests outgrew the replay
 * buffer, or once the caller cancelled it. Only one retry is made.
 */

/** How much request data calls may keep for a replay. */
export interface ReplayBufferLimits {
  /** Per call (default 64 KiB): a call that sends more is committed. */
  perCallBytes: number;
  /** For all calls of one handler together (default 16 MiB, like grpc-js's `grpc.retry_buffer_size`). */
  totalBytes: number;
}

export const DEFAULT_REPLAY_BUFFER: Readonly<ReplayBufferLimits> = { perCallBytes: 64 * 1024, totalBytes: 16 * 1024 * 1024 };

/** The replay bytes held by the calls of one channel family, within its limits. */
export class ReplayBudget {
  private used = 0;

  constructor(readonly limits: ReplayBufferLimits) {}

  /** Reserves `bytes`; false when that would go over the total. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limits.totalBytes) {
      return false;
    }
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

export interface RetryingCallInit {
  method: string;
  options: CallOptions;
  /** The tunnel picked for the first attempt. */
  first: TunnelChannel;
  /** A usable tunnel other than `refusing`, for the same selector, if there is one. */
  another(refusing: TunnelChannel): TunnelChannel | undefined;
  budget: ReplayBudget;
}

/**
 * Starts a call that is retried once on another tunnel if refused. Throws
 * like `CallChannel.startCall` when no attempt could be started.
 */
export function startRetryingCall(init: RetryingCallInit): CallStream {
  return new RetryingCall(init);
}

/** The status codes a tunnel refuses a call with, before sending it, when another tunnel could take it. */
function refusedBeforeSending(e: unknown): boolean {
  return e instanceof TunnelError && (e.code === Code.UNAVAILABLE || e.code === Code.RESOURCE_EXHAUSTED);
}

/** One try of the call, on one tunnel. */
class Attempt {
  stream!: CallStream;
  /** Settles once the call has decided what this attempt's end means (retry or final). */
  readonly decided: Deferred<void> = deferred();
  /** Headers reported after the attempt ended (empty ones, by convention): held unless it is final. */
  endHeaders: Metadata | undefined;

  constructor(readonly tunnel: TunnelChannel) {}
}

class RetryingCall implements CallStream {
  readonly method: string;
  readonly done: Promise<CallEnd>;
  private readonly ended = deferred<CallEnd>();
  private readonly attemptOptions: CallOptions;
  private current: Attempt;
  private finalEnd: CallEnd | undefined;
  private retried = false;
  private committed = false;
  private cancelled = false;
  private halfClosed = false;
  /** Requests sent so far, kept for a replay (by reference: senders hand over fresh buffers). */
  private buffer: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Set while (and after) the second attempt replays: later sends go after it. */
  private replaying: Promise<void> | undefined;

  constructor(private readonly init: RetryingCallInit) {
    this.method = init.method;
    this.done = this.ended.promise;
    const { options } = init;
    // An absolute deadline, so that a retry does not extend the call's time.
    this.attemptOptions = {
      metadata: options.metadata,
      deadline: callDeadline(options),
      signal: options.signal,
      onTunnel: options.onTunnel,
    };
    try {
      this.current = this.attempt(init.first);
    } catch (e) {
      const other = refusedBeforeSending(e) ? init.another(init.first) : undefined;
      if (other === undefined) {
        throw e;
      }
      this.retried = true;
      this.current = this.attempt(other); // a second failure reaches the caller
    }
  }

  get closed(): boolean {
    return this.finalEnd !== undefined;
  }

  send(message: Uint8Array): Promise<void> {
    if (this.replaying !== undefined) {
      return this.replaying.then(() => this.forward(message));
    }
    return this.forward(message);
  }

  closeSend(): void {
    if (this.halfClosed) {
      return;
    }
    this.halfClosed = true;
    if (this.replaying !== undefined) {
      void this.replaying.then(() => this.current.stream.closeSend());
    } else {
      this.current.stream.closeSend();
    }
  }

  async read(): Promise<Uint8Array | undefined> {
    for (;;) {
      const attempt = this.current;
      try {
        const message = await attempt.stream.read();
        if (message !== undefined) {
          this.commit();
        }
        return message;
      } catch (e) {
        if (!attempt.stream.closed) {
          throw e;
        }
        await attempt.decided.promise;
        if (this.current === attempt) {
          throw e;
        }
        // Retried: the new attempt answers instead.
      }
    }
  }

  cancel(reason?: TunnelError): void {
    this.cancelled = true;
    this.current.stream.cancel(reason);
  }

  private attempt(tunnel: TunnelChannel): Attempt {
    const attempt = new Attempt(tunnel);
    attempt.stream = tunnel.startCall(this.method, { ...this.attemptOptions, onHeader: (headers) => this.header(attempt, headers) });
    void attempt.stream.done.then((end) => this.attemptEnded(attempt, end));
    return attempt;
  }

  /** Headers while the attempt runs come from a handler: the call is committed and the caller gets them at once. */
  private header(attempt: Attempt, headers: Metadata): void {
    if (attempt.stream === undefined || attempt.stream.closed) {
      attempt.endHeaders = headers;
      return;
    }
    this.commit();
    this.init.options.onHeader?.(headers);
  }

  private forward(message: Uint8Array): Promise<void> {
    this.record(message);
    const attempt = this.current;
    return attempt.stream.send(message).catch(async (e: unknown) => {
      if (!attempt.stream.closed) {
        throw e;
      }
      await attempt.decided.promise;
      if (this.current === attempt) {
        throw e;
      }
      await this.replaying; // the new attempt got this message in the replay
    });
  }

  private attemptEnded(attempt: Attempt, end: CallEnd): void {
    if (end.refused && !this.retried && !this.committed && !this.cancelled) {
      const other = this.init.another(attempt.tunnel);
      if (other !== undefined) {
        this.retried = true;
        try {
          this.current = this.attempt(other);
          this.replaying = this.replay(this.current);
        } catch (e) {
          this.finish({ error: TunnelError.from(e, Code.UNAVAILABLE), trailers: new Metadata() }, attempt.endHeaders);
        }
        attempt.decided.resolve();
        return;
      }
    }
    this.finish(end, attempt.endHeaders);
    attempt.decided.resolve();
  }

  /** Sends the second attempt what the first one was sent. */
  private async replay(attempt: Attempt): Promise<void> {
    const messages = this.buffer;
    try {
      for (const message of messages) {
        await attempt.stream.send(message);
      }
      if (this.halfClosed) {
        attempt.stream.closeSend();
      }
    } catch {
      // The attempt has ended; its end reaches the caller through done and read.
    }
    this.release(); // no further retry: nothing needs keeping
  }

  /** Keeps a request for a replay, or commits the call when it no longer fits. */
  private record(message: Uint8Array): void {
    if (this.committed || this.retried) {
      return;
    }
    const { budget } = this.init;
    const size = message.byteLength;
    if (this.bufferedBytes + size > budget.limits.perCallBytes || !budget.take(size)) {
      this.commit();
      return;
    }
    this.buffer.push(message);
    this.bufferedBytes += size;
  }

  private commit(): void {
    if (!this.committed) {
      this.committed = true;
      this.release();
    }
  }

  /** Gives the buffer back (a replay in progress keeps iterating its own reference). */
  private release(): void {
    this.init.budget.give(this.bufferedBytes);
    this.bufferedBytes = 0;
    this.buffer = [];
  }

  private finish(end: CallEnd, endHeaders: Metadata | undefined): void {
    this.finalEnd = end;
    this.release();
    if (endHeaders !== undefined) {
      this.init.options.onHeader?.(endHeaders);
    }
    this.ended.resolve(end);
  }
}

import { setTimeout as sleep } from "node:timers/promises";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { LazyDeferred } from "../../deferred.js";
import type { CallEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel } from "../client/index.js";
import { callDeadline, type CallOptions } from "../client/index.js";
import { type CallStream, type ReadsOnly, readOnly } from "../client/index.js";
import type { EXTRA_MESSAGE } from "../../engine/message-queue.js";
import { CallWaits } from "./wait-signal.js";
import { ReplayBuffer, type ReplayBudget } from "./replay-budget.js";

/**
 * Transparent retry of refused calls, for channels that can choose among
 * several targets (the round-robin reverse channels, a cluster's routes):
 * like HTTP/2's REFUSED_STREAM, or grpc-js's transparent retry of calls that
 * never left the client. A call the server refused before any handler saw it
 * (`CallEnd.refused`), or that could not even be started on the target picked
 * for it (a tunnel closed or draining meanwhile), is started again on another
 * target; the requests sent so far are replayed from a bounded buffer, then
 * the half-close. The caller sees nothing of the earlier attempts.
 *
 * A call is *committed* — never retried — once response headers or a
 * response arrived (a handler saw it), once its requests outgrew the replay
 * buffer, or once the caller cancelled it.
 *
 * Targets may also come later: the first one as a promise (a route still
 * being resolved, a tunnel still awaited: `waitForReady`), and the next one
 * from an `another` that resolves later. Meanwhile requests wait, and the
 * caller's signal and deadline still end the call.
 */

/** Where a call goes next: a target, none (give up), or a promise of either. */
export type NextTarget = CallChannel | undefined | Promise<CallChannel | undefined>;

export interface RetryingCallInit {
  method: string;
  options: CallOptions;
  /**
   * The first target, or a function that waits for one (`signal` aborts
   * when the call ends first): a rejection ends the call with its error.
   */
  first: CallChannel | ((signal: AbortSignal) => Promise<CallChannel>);
  /**
   * Where to go after `refusing` refused the call (or could not start it);
   * undefined gives up and the refusal reaches the caller. `signal` aborts
   * when the call ends while this is still being decided.
   */
  another(refusing: CallChannel, signal: AbortSignal): NextTarget;
  /** Where requests are kept for a replay; undefined: never retried. */
  budget: ReplayBudget | undefined;
  /** Retries at most (default 1; may be Infinity). Retries after the first wait a growing backoff. */
  maxRetries?: number;
}

/** Backoff before the second and later retries: 10 ms, doubling, at most 1 s. */
const RETRY_BACKOFF_MS = 10;
const MAX_RETRY_BACKOFF_MS = 1_000;

/**
 * Starts a call that is retried on another target if refused. Throws like
 * `CallChannel.startCall` when a first target was given and no attempt could
 * be started on it or another one at once.
 */
export function startRetryingCall(init: RetryingCallInit): CallStream {
  return new RetryingCall(init);
}

/** The status codes a tunnel refuses a call with, before sending it, when another tunnel could take it. */
function refusedBeforeSending(e: unknown): boolean {
  return e instanceof TunnelError && (e.code === Code.UNAVAILABLE || e.code === Code.RESOURCE_EXHAUSTED);
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** One try of the call, on one target. */
class Attempt {
  stream!: CallStream;
  /** Settles once the call has decided what this attempt's end means (retry or final). */
  readonly decided = new LazyDeferred();
  /** Headers reported after the attempt ended (empty ones, by convention): held unless it is final. */
  endHeaders: Metadata | undefined;

  constructor(readonly target: CallChannel) {}
}

/** How the call ends if no further target comes: the last refusal. */
interface Fallback {
  end: CallEnd;
  headers: Metadata | undefined;
}

class RetryingCall implements CallStream, ReadsOnly {
  readonly method: string;
  // Made when asked for, like the engine's streams' `done`: most calls end without anyone awaiting them.
  private readonly ended = new LazyDeferred<CallEnd>();
  private readonly attemptOptions: CallOptions;
  private readonly deadline: number | undefined;
  private readonly maxRetries: number;
  /** The attempt carrying the call; undefined until the first target is known. */
  private current: Attempt | undefined;
  /** Resolves once the first attempt started, or the call ended without one. */
  private readonly started = new LazyDeferred();
  private finalEnd: CallEnd | undefined;
  private retries = 0;
  private committed = false;
  private cancelled = false;
  private halfClosed = false;
  /** Requests sent so far, kept for a replay. */
  private readonly buffer: ReplayBuffer;
  /** Set while (and after) a later attempt replays: later sends go after it. */
  private replaying: Promise<void> | undefined;
  private waits: CallWaits | undefined;

  constructor(private readonly init: RetryingCallInit) {
    this.method = init.method;
    this.maxRetries = init.budget === undefined ? 0 : (init.maxRetries ?? 1);
    this.buffer = new ReplayBuffer(init.budget);
    const { options } = init;
    // An absolute deadline, so that a retry does not extend the call's time.
    this.deadline = callDeadline(options);
    this.attemptOptions = { metadata: options.metadata, deadline: this.deadline, signal: options.signal, onTunnel: options.onTunnel };
    const first = init.first;
    if (typeof first === "function") {
      if (options.signal?.aborted) {
        throw TunnelError.from(options.signal.reason, Code.CANCELLED);
      }
      void this.proceedLater(first(this.waiting().signal), undefined);
      return;
    }
    try {
      this.current = this.attempt(first);
    } catch (e) {
      const next = refusedBeforeSending(e) && this.mayRetry() ? this.next(first) : undefined;
      if (next === undefined) {
        throw e;
      }
      if (isPromise(next)) {
        void this.proceedLater(next, { end: { error: TunnelError.from(e), trailers: new Metadata() }, headers: new Metadata() });
        return;
      }
      this.current = this.attempt(next); // a second failure reaches the caller
    }
    this.started.resolve();
  }

  get closed(): boolean {
    return this.finalEnd !== undefined;
  }

  get done(): Promise<CallEnd> {
    return this.ended.promise;
  }

  send(message: Uint8Array): Promise<void> {
    if (this.current === undefined) {
      if (this.finalEnd !== undefined) {
        return Promise.reject(this.finalEnd.error ?? new TunnelError(Code.INTERNAL, "call already completed"));
      }
      return this.started.promise.then(() => this.send(message));
    }
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
    if (this.current === undefined) {
      // Requests sent so far wait for the first attempt too (send): half-close after them, not before.
      void this.started.promise.then(() => this.closeSendCurrent());
      return;
    }
    this.closeSendCurrent();
  }

  private closeSendCurrent(): void {
    if (this.replaying !== undefined) {
      void this.replaying.then(() => this.current?.stream.closeSend());
    } else {
      this.current?.stream.closeSend();
    }
  }

  read(): Promise<Uint8Array | undefined> {
    return this.readFrom(false) as Promise<Uint8Array | undefined>;
  }

  /** ReadsOnly: the one response with the call's end, in one read of the attempt where it can. */
  readOnly(): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    return this.readFrom(true);
  }

  private async readFrom(only: boolean): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    for (;;) {
      let attempt = this.current;
      if (attempt === undefined) {
        await this.started.promise;
        attempt = this.current;
        if (attempt === undefined) {
          // Ended before any attempt started (no target came).
          const error = this.finalEnd?.error;
          if (error !== undefined) {
            throw error;
          }
          return undefined;
        }
      }
      try {
        const message = only ? await readOnly(attempt.stream) : await attempt.stream.read();
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
          throw this.finalEnd?.error ?? e; // the call's end (a retry may have failed to find a target)
        }
        // Retried: the new attempt answers instead.
      }
    }
  }

  cancel(reason?: TunnelError): void {
    this.cancelled = true;
    const attempt = this.current;
    if (attempt !== undefined && !attempt.stream.closed) {
      attempt.stream.cancel(reason);
    } else if (this.finalEnd === undefined) {
      // Waiting for a target: the wait ends with the reason.
      this.waiting().cancel(reason ?? new TunnelError(Code.CANCELLED, "call cancelled"));
    }
  }

  private attempt(target: CallChannel): Attempt {
    const attempt = new Attempt(target);
    attempt.stream = target.startCall(this.method, { ...this.attemptOptions, onHeader: (headers) => this.header(attempt, headers) });
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
    const attempt = this.current!;
    return attempt.stream.send(message).catch(async (e: unknown) => {
      if (!attempt.stream.closed) {
        throw e;
      }
      await attempt.decided.promise;
      if (this.current === attempt) {
        throw this.finalEnd?.error ?? e;
      }
      await this.replaying; // the new attempt got this message in the replay
    });
  }

  private mayRetry(): boolean {
    return !this.committed && !this.cancelled && this.retries < this.maxRetries;
  }

  /** The target of the next retry, as `another` decides (after a backoff from the second retry on). */
  private next(refusing: CallChannel): NextTarget {
    this.retries++;
    const { signal } = this.waiting();
    if (this.retries === 1) {
      return this.init.another(refusing, signal);
    }
    // Stryker disable next-line MethodExpression,ArithmeticOperator: only the retries' timing changes
    const backoff = Math.min(MAX_RETRY_BACKOFF_MS, RETRY_BACKOFF_MS * 2 ** (this.retries - 2));
    return sleep(backoff, undefined, { signal }).then(() => this.init.another(refusing, signal));
  }

  private attemptEnded(attempt: Attempt, end: CallEnd): void {
    if (end.refused && this.mayRetry()) {
      const waiting = this.proceed(this.next(attempt.target), { end, headers: attempt.endHeaders });
      if (waiting !== undefined) {
        void waiting.then(() => attempt.decided.resolve());
        return;
      }
    } else {
      this.finish(end, attempt.endHeaders);
    }
    attempt.decided.resolve();
  }

  /**
   * Starts the next attempt on `next` (waiting for it if it is a promise),
   * or ends the call with `fallback` when there is none. A target that
   * refuses at once is retried like a refusal. Returns a promise only when
   * it has to wait.
   */
  private proceed(next: NextTarget, fallback: Fallback): Promise<void> | undefined {
    for (;;) {
      if (isPromise(next)) {
        return this.proceedLater(next, fallback);
      }
      // No target, or the requests sent while it was coming outgrew the replay buffer: the fallback is the call's end.
      if (next === undefined || (this.committed && this.current !== undefined)) {
        this.finish(fallback.end, fallback.headers);
        return undefined;
      }
      try {
        this.begin(this.attempt(next));
        return undefined;
      } catch (e) {
        const error = TunnelError.from(e, Code.UNAVAILABLE);
        fallback = { end: { error, trailers: new Metadata() }, headers: new Metadata() };
        if (!refusedBeforeSending(e) || !this.mayRetry()) {
          this.finish(fallback.end, fallback.headers);
          return undefined;
        }
        next = this.next(next);
      }
    }
  }

  /** Waits for a target (within the caller's signal and deadline), then proceeds; a failure ends the call with its error. */
  private async proceedLater(next: Promise<CallChannel | undefined>, fallback: Fallback | undefined): Promise<void> {
    let target: CallChannel | undefined;
    try {
      target = await this.waiting().until(next);
    } catch (e) {
      this.finish({ error: TunnelError.from(e, Code.UNAVAILABLE), trailers: new Metadata() }, fallback?.headers ?? new Metadata());
      return;
    }
    if (target === undefined && fallback === undefined) {
      this.finish({ error: new TunnelError(Code.UNAVAILABLE, "no route for the call"), trailers: new Metadata() }, new Metadata());
      return;
    }
    await this.proceed(target, fallback ?? { end: { error: undefined, trailers: new Metadata() }, headers: undefined });
  }

  /** Makes `attempt` the call's: a first attempt gets what waited for it (see send, closeSend), a later one replays. */
  private begin(attempt: Attempt): void {
    const first = this.current === undefined;
    this.current = attempt;
    if (first) {
      this.started.resolve();
    } else {
      this.replaying = this.replay(attempt);
    }
  }

  /** Sends a later attempt what the earlier ones were sent. */
  private async replay(attempt: Attempt): Promise<void> {
    const messages = this.buffer.kept;
    // A half-close that comes during the replay waits behind it with the requests sent meanwhile (closeSendCurrent).
    const halfClosed = this.halfClosed;
    try {
      for (const message of messages) {
        await attempt.stream.send(message);
      }
      if (halfClosed) {
        attempt.stream.closeSend();
      }
    } catch {
      // The attempt has ended; its end reaches the caller through done and read.
    }
    if (this.retries >= this.maxRetries) {
      this.buffer.release(); // no further retry: nothing needs keeping
    }
  }

  /**
   * Keeps a request for a replay, or commits the call when it no longer
   * fits: while a further retry may come, or while the attempt that would
   * carry it has ended and the next one is still being decided (it replays).
   */
  private record(message: Uint8Array): void {
    if (this.committed || this.finalEnd !== undefined) {
      return;
    }
    const replayed = this.retries < this.maxRetries || this.current?.stream.closed === true;
    if (replayed && !this.buffer.keep(message)) {
      this.commit();
    }
  }

  private commit(): void {
    if (!this.committed) {
      this.committed = true;
      this.buffer.release();
    }
  }

  /** Where waits for a target stop (cancel, the caller's signal, the deadline); made on first use. */
  private waiting(): CallWaits {
    this.waits ??= new CallWaits(this.init.options.signal, this.deadline);
    return this.waits;
  }

  private finish(end: CallEnd, endHeaders: Metadata | undefined): void {
    this.finalEnd = end;
    this.buffer.release();
    this.waits?.dispose();
    this.started.resolve();
    if (endHeaders !== undefined) {
      this.init.options.onHeader?.(endHeaders);
    }
    this.ended.resolve(end);
  }
}

import { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { deferred, type Deferred } from "../../deferred.js";
import type { CallEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel, CallOptions, CallStream } from "../client/index.js";
import { callDeadline } from "../client/index.js";
import { ReplayBuffer, type ReplayBudget } from "./replay-budget.js";
import { RETRY_PUSHBACK_KEY, type ResolvedPolicy } from "./retry-policy.js";

/**
 * A call made under a retry or hedging policy (retry-policy.ts): attempts on
 * the targets `start` gives, the requests kept for replaying to a later
 * attempt (bounded, as for refused calls), and one attempt *committed* to
 * as the call's: the first that delivers a response or ends successfully,
 * or the last that failed when no further attempt may start. Headers of an
 * attempt are held until it is committed, so the caller sees one attempt.
 *
 * No further attempt starts once the caller cancelled, the requests
 * outgrew the replay buffer, `maxAttempts` were made, the client's budget
 * is spent, the server's pushback trailer says no, or the wait would pass
 * the call's deadline.
 */
export interface PolicyCallInit {
  method: string;
  options: CallOptions;
  policy: ResolvedPolicy;
  budget: ReplayBudget;
  /**
   * Starts an attempt: `busy` are the tunnels carrying live attempts.
   * Undefined when there is no target for it (hedging: no other tunnel).
   */
  start(options: CallOptions, busy: ReadonlySet<CallChannel>): CallStream | undefined;
}

class Attempt {
  stream!: CallStream;
  tunnel: CallChannel | undefined;
  /** Headers held until the attempt is committed. */
  headers: Metadata | undefined;
  /** Sends to this attempt, in order: the replay first, then live ones. */
  chain: Promise<void> = Promise.resolve();
  /** A read started while attempts raced, and what it came to. */
  pending: Promise<Uint8Array | undefined> | undefined;
  outcome: Promise<Outcome> | undefined;

  /** The pending read's result (taking it), or the next read. */
  read(): Promise<Uint8Array | undefined> {
    const pending = this.pending;
    this.pending = undefined;
    this.outcome = undefined;
    return pending ?? this.stream.read();
  }
}

interface Outcome {
  attempt: Attempt;
  message?: Uint8Array;
  failed?: true;
}

export class PolicyCall implements CallStream {
  readonly method: string;
  readonly done: Promise<CallEnd>;
  private readonly ended = deferred<CallEnd>();
  private readonly deadline: number | undefined;
  private readonly attemptOptions: CallOptions;
  private readonly live = new Set<Attempt>();
  private readonly buffer: ReplayBuffer;
  private committed: Attempt | undefined;
  private finalEnd: CallEnd | undefined;
  private attempts = 0;
  private retries = 0;
  private replayable = true;
  private halfClosed = false;
  private cancelled = false;
  private headersReported = false;
  private timer: NodeJS.Timeout | undefined;
  /** Hedging: the last failed attempt's end, the call's if no other attempt answers. */
  private lastFailure: { end: CallEnd; headers: Metadata | undefined } | undefined;
  /** Stops listening to the caller's signal during a retry's wait. */
  private unlisten: (() => void) | undefined;
  /** Resolves at the next change the reader waits for: an attempt started, committed or ended. */
  private changed: Deferred<void> = deferred();

  constructor(private readonly init: PolicyCallInit) {
    this.method = init.method;
    this.done = this.ended.promise;
    this.buffer = new ReplayBuffer(init.budget);
    const { options } = init;
    this.deadline = callDeadline(options);
    this.attemptOptions = {
      metadata: options.metadata,
      deadline: this.deadline,
      signal: options.signal,
      waitForReady: options.waitForReady,
    };
    // The first attempt throws as startCall does.
    // Stryker disable next-line BooleanLiteral: equivalent: nothing was sent yet, there is nothing to replay
    this.begin(false);
  }

  get closed(): boolean {
    return this.finalEnd !== undefined;
  }

  send(message: Uint8Array): Promise<void> {
    if (this.committed !== undefined) {
      const attempt = this.committed;
      return attempt.chain.then(() => attempt.stream.send(message));
    }
    if (this.finalEnd !== undefined) {
      return Promise.reject(this.finalEnd.error ?? new TunnelError(Code.INTERNAL, "call already completed"));
    }
    if (this.replayable && !this.buffer.keep(message)) {
      this.noReplay();
    }
    // An attempt's failure is decided where it ends, not here.
    const sends = [...this.live].map((attempt) => this.sendTo(attempt, message).catch(() => {}));
    return Promise.all(sends).then(() => undefined);
  }

  closeSend(): void {
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: an attempt's closeSend is idempotent, and halfClosed stays true
    if (this.halfClosed) {
      return;
    }
    this.halfClosed = true;
    for (const attempt of this.live) {
      void attempt.chain.then(() => attempt.stream.closeSend());
    }
  }

  async read(): Promise<Uint8Array | undefined> {
    for (;;) {
      const committed = this.committed;
      if (committed !== undefined) {
        // Stryker disable next-line CallExpression: equivalent: headers precede an attempt's responses and end, so they were reported at its commit
        this.reportHeaders(committed);
        return committed.read();
      }
      if (this.finalEnd !== undefined) {
        throw this.finalEnd.error ?? new TunnelError(Code.INTERNAL, "call already completed");
      }
      const changed = this.changed.promise;
      const races: Promise<Outcome | undefined>[] = [changed.then(() => undefined)];
      for (const attempt of this.live) {
        if (attempt.outcome === undefined) {
          const pending = attempt.stream.read();
          attempt.pending = pending;
          attempt.outcome = pending.then(
            (message) => ({ attempt, message }),
            () => ({ attempt, failed: true as const }),
          );
        }
        races.push(attempt.outcome);
      }
      const won = await Promise.race(races);
      // Stryker disable next-line ConditionalExpression: equivalent: without the wait the loop re-reads the settled failure until the attempt's end (a microtask later) removes it
      if (won?.failed && this.live.has(won.attempt)) {
        await changed; // the attempt's end decides what follows
        continue;
      }
      if (won === undefined || won.failed || this.committed !== undefined) {
        continue;
      }
      // A response, or a successful end: this attempt answers.
      this.commit(won.attempt);
      this.reportHeaders(won.attempt);
      return won.attempt.read();
    }
  }

  cancel(reason?: TunnelError): void {
    if (this.finalEnd !== undefined) {
      return;
    }
    this.cancelled = true;
    clearTimeout(this.timer);
    if (this.live.size === 0) {
      this.finish({ error: reason ?? new TunnelError(Code.CANCELLED, "call cancelled"), trailers: new Metadata() }, undefined);
      return;
    }
    for (const attempt of this.live) {
      attempt.stream.cancel(reason);
    }
  }

  /** Starts an attempt and replays to it; false when there is no target for it. */
  private begin(replay: boolean): boolean {
    const attempt = new Attempt();
    const busy = new Set<CallChannel>();
    for (const other of this.live) {
      if (other.tunnel !== undefined) {
        busy.add(other.tunnel);
      }
    }
    const { onTunnel } = this.init.options;
    const stream = this.init.start(
      {
        ...this.attemptOptions,
        onHeader: (headers) => this.header(attempt, headers),
        onTunnel: (tunnel) => {
          attempt.tunnel = tunnel;
          onTunnel?.(tunnel);
        },
      },
      busy,
    );
    if (stream === undefined) {
      return false;
    }
    attempt.stream = stream;
    this.attempts++;
    this.live.add(attempt);
    if (replay) {
      for (const message of this.buffer.kept) {
        void this.sendTo(attempt, message).catch(() => {});
      }
    }
    if (this.halfClosed) {
      void attempt.chain.then(() => stream.closeSend());
    }
    void stream.done.then((end) => this.attemptEnded(attempt, end));
    this.scheduleHedge();
    this.wake();
    return true;
  }

  private sendTo(attempt: Attempt, message: Uint8Array): Promise<void> {
    const sent = attempt.chain.then(() => attempt.stream.send(message));
    attempt.chain = sent.catch(() => {});
    return sent;
  }

  private header(attempt: Attempt, headers: Metadata): void {
    attempt.headers = headers;
    // Stryker disable next-line BlockStatement: equivalent: no attempt is committed before its headers came (they precede its responses and end)
    if (this.committed === attempt) {
      // Stryker disable next-line CallExpression: equivalent: as above
      this.reportHeaders(attempt);
    }
  }

  private reportHeaders(attempt: Attempt): void {
    if (!this.headersReported && attempt.headers !== undefined) {
      this.headersReported = true;
      this.init.options.onHeader?.(attempt.headers);
    }
  }

  private attemptEnded(attempt: Attempt, end: CallEnd): void {
    this.live.delete(attempt);
    const { throttle, codes, hedging } = this.init.policy;
    const code = end.error?.code ?? Code.OK;
    if (code === Code.OK) {
      throttle.succeeded();
    } else if (codes.has(code)) {
      throttle.failed();
    }
    if (this.committed !== undefined) {
      if (this.committed === attempt) {
        this.finish(end, attempt.headers);
      }
      return; // a losing attempt, cancelled
    }
    if (code === Code.OK) {
      this.commit(attempt);
      this.finish(end, attempt.headers);
      return;
    }
    const retryable = codes.has(code);
    const delay = retryable ? this.nextDelay(end) : undefined;
    if (delay !== undefined && (hedging ? this.tryBegin() : this.retryAfter(delay))) {
      this.wake();
      return;
    }
    // A hedge failing with another code (a fatal one) ends the call at once, cancelling the others.
    if (hedging && retryable && (this.live.size > 0 || (this.timer !== undefined && this.attempts < this.init.policy.maxAttempts))) {
      this.lastFailure = { end, headers: attempt.headers };
      this.wake(); // the other attempts, or a hedge still to start, may answer
      return;
    }
    this.commit(attempt);
    this.finish(end, attempt.headers);
  }

  /** The wait before another attempt after `end`, or undefined when none may start. */
  private nextDelay(end: CallEnd): number | undefined {
    const { maxAttempts, throttle, backoff, hedging } = this.init.policy;
    if (this.cancelled || !this.replayable || this.attempts >= maxAttempts || !throttle.allows()) {
      return undefined;
    }
    const pushback = end.trailers.get(RETRY_PUSHBACK_KEY)[0];
    let delay: number;
    if (pushback !== undefined) {
      delay = typeof pushback === "string" && /^\d+$/.test(pushback) ? Number(pushback) : -1;
      if (delay < 0) {
        return undefined; // the server asked for no retry
      }
      this.retries = 0;
    } else {
      delay = hedging ? 0 : backoff(++this.retries);
    }
    if (this.deadline !== undefined && Date.now() + delay >= this.deadline) {
      return undefined;
    }
    return delay;
  }

  /** Starts a hedge now, if there is a target for it. */
  private tryBegin(): boolean {
    try {
      return this.begin(true);
    } catch {
      return false;
    }
  }

  /** A retry after `delay` ms; the caller's signal ends the wait (and the call). */
  private retryAfter(delay: number): boolean {
    const { signal } = this.init.options;
    const onAbort = () => this.cancel(TunnelError.from(signal?.reason, Code.CANCELLED));
    if (signal?.aborted) {
      return false;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    this.unlisten = () => signal?.removeEventListener("abort", onAbort);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.unlisten?.();
      if (this.finalEnd !== undefined) {
        return;
      }
      try {
        if (!this.begin(true)) {
          this.finish({ error: new TunnelError(Code.UNAVAILABLE, "no target for a retry"), trailers: new Metadata() }, undefined);
        }
      } catch (e) {
        this.finish({ error: TunnelError.from(e, Code.UNAVAILABLE), trailers: new Metadata() }, undefined);
      }
    }, delay);
    return true;
  }

  /** Hedging: the next attempt once this one went `hedgingDelayMs` without an answer. */
  private scheduleHedge(): void {
    const { hedging, hedgingDelayMs, maxAttempts, throttle } = this.init.policy;
    if (!hedging || this.timer !== undefined || this.attempts >= maxAttempts) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const mayStart = this.attempts < maxAttempts && !this.cancelled && this.replayable && throttle.allows();
      if (this.committed === undefined && this.finalEnd === undefined && mayStart) {
        this.tryBegin(); // without a target the attempts running go on alone
      }
      if (this.live.size === 0 && this.lastFailure !== undefined) {
        this.finish(this.lastFailure.end, this.lastFailure.headers); // every attempt failed, and none started now
      }
      this.wake();
    }, hedgingDelayMs);
  }

  /** The requests outgrew the replay buffer: the attempts running now are the last. */
  private noReplay(): void {
    this.replayable = false;
    this.buffer.release();
    if (this.live.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.finish(
        { error: new TunnelError(Code.UNAVAILABLE, "call failed and its requests outgrew the replay buffer"), trailers: new Metadata() },
        undefined,
      );
    }
  }

  private commit(attempt: Attempt): void {
    this.committed = attempt;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer.release();
    for (const other of this.live) {
      if (other !== attempt) {
        other.stream.cancel(new TunnelError(Code.CANCELLED, "another attempt of the call answered first"));
      }
    }
    this.wake();
  }

  private finish(end: CallEnd, headers: Metadata | undefined): void {
    if (this.finalEnd !== undefined) {
      return;
    }
    this.finalEnd = end;
    this.buffer.release();
    clearTimeout(this.timer);
    this.unlisten?.();
    if (!this.headersReported && headers !== undefined) {
      this.headersReported = true;
      this.init.options.onHeader?.(headers);
    }
    this.ended.resolve(end);
    this.wake();
  }

  private wake(): void {
    const waking = this.changed;
    this.changed = deferred();
    waking.resolve();
  }
}

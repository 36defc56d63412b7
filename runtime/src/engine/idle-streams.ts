/** A stream the idle timeout watches. */
export interface IdleCandidate {
  /** True once the stream was heard from or answered; it is then never idle again. */
  readonly active: boolean;
  /** When it started, on the `performance.now()` clock. */
  readonly startedAt: number;
  /** The time is up: end the stream. */
  expireIdle(timeoutMs: number): void;
}

/**
 * Ends streams that stay idle: started, but neither heard from nor answered
 * within `timeoutMs`. One timer per tunnel, whatever the number of streams:
 * streams are kept in the order they started, which is also the order in
 * which their time runs out, so each expiry looks only at the streams that
 * are due. The set holds only the streams: each knows when it started, so
 * an idle stream costs one set entry (this is paid by every stream a
 * server holds, tens of thousands on a busy tunnel).
 */
export class IdleStreams {
  private readonly started = new Set<IdleCandidate>();
  private timer: NodeJS.Timeout | undefined;

  /** `timeoutMs` 0: never. */
  constructor(private readonly timeoutMs: number) {}

  add(stream: IdleCandidate): void {
    if (this.timeoutMs === 0) {
      return;
    }
    this.started.add(stream);
    this.timer ??= setTimeout(() => this.expire(), this.timeoutMs);
  }

  /** The stream ended (or became active): it is no longer watched. */
  delete(stream: IdleCandidate): void {
    this.started.delete(stream);
  }

  /** The tunnel ended. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Stryker disable next-line CallExpression: equivalent: the tunnel's end fails every stream, and each leaves the set as it ends (forgetStream)
    this.started.clear();
  }

  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const stream of this.started) {
      const due = stream.startedAt + this.timeoutMs;
      if (due > now) {
        this.timer = setTimeout(() => this.expire(), Math.ceil(due - now));
        return;
      }
      // Stryker disable next-line CallExpression: equivalent: an expired stream leaves the set as it ends (forgetStream), an active one when it ends
      this.started.delete(stream);
      if (!stream.active) {
        stream.expireIdle(this.timeoutMs);
      }
    }
  }
}

/** A stream the idle timeout watches. */
export interface IdleCandidate {
  /** True once the stream was heard from or answered; it is then never idle again. */
  readonly active: boolean;
  /** The time is up: end the stream. */
  expireIdle(timeoutMs: number): void;
}

/**
 * Ends streams that stay idle: started, but neither heard from nor answered
 * within `timeoutMs`. One timer per tunnel, whatever the number of streams:
 * streams are kept in the order they started, which is also the order in
 * which their time runs out, so each expiry looks only at the streams that
 * are due.
 */
export class IdleStreams {
  private readonly started = new Map<IdleCandidate, number>();
  private timer: NodeJS.Timeout | undefined;

  /** `timeoutMs` 0: never. */
  constructor(private readonly timeoutMs: number) {}

  add(stream: IdleCandidate): void {
    if (this.timeoutMs === 0) {
      return;
    }
    this.started.set(stream, Date.now());
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
    this.started.clear();
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [stream, startedAt] of this.started) {
      const due = startedAt + this.timeoutMs;
      if (due > now) {
        this.timer = setTimeout(() => this.expire(), due - now);
        return;
      }
      this.started.delete(stream);
      if (!stream.active) {
        stream.expireIdle(this.timeoutMs);
      }
    }
  }
}

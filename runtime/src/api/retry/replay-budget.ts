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

/**
 * The requests one call keeps for a replay, within its share of a budget:
 * by reference (senders hand over fresh buffers), at most `perCallBytes`.
 */
export class ReplayBuffer {
  private messages: Uint8Array[] = [];
  private bytes = 0;

  constructor(private readonly budget: ReplayBudget | undefined) {}

  /** The requests kept so far; a replay may iterate them while later ones are kept or released. */
  get kept(): readonly Uint8Array[] {
    return this.messages;
  }

  /** Keeps `message`; false when it does not fit (the call's share or the budget), keeping nothing. */
  keep(message: Uint8Array): boolean {
    const { budget } = this;
    const size = message.byteLength;
    if (budget === undefined || this.bytes + size > budget.limits.perCallBytes || !budget.take(size)) {
      return false;
    }
    this.messages.push(message);
    this.bytes += size;
    return true;
  }

  /** Gives everything back to the budget. */
  release(): void {
    this.budget?.give(this.bytes);
    this.bytes = 0;
    this.messages = [];
  }
}

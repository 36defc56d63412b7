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

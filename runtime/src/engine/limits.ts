/** Resource limits of one tunnel; every one is enforced with a clear status. */
export interface TunnelLimits {
  /** Largest message accepted from the peer, in bytes (gRPC's default: 4 MiB). */
  maxReceiveMessageBytes: number;
  /**
   * Most bytes queued for one stream that the application has not read yet,
   * for revision-0 streams (revision 1 is bounded by its window instead).
   */
  maxBufferedBytesPerStream: number;
}

export const DEFAULT_LIMITS: TunnelLimits = {
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxBufferedBytesPerStream: 8 * 1024 * 1024,
};

export function resolveLimits(partial: Partial<TunnelLimits> | undefined): TunnelLimits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  // A revision-0 stream must be able to hold at least one whole message.
  limits.maxBufferedBytesPerStream = Math.max(limits.maxBufferedBytesPerStream, limits.maxReceiveMessageBytes);
  return limits;
}

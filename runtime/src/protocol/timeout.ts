import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/**
 * The `grpc-timeout` request header: at most 8 digits and a unit
 * (H, M, S, m, u, n), as in the gRPC over HTTP/2 spec.
 */
export const TIMEOUT_HEADER = "grpc-timeout";

const MAX_DIGITS_VALUE = 99_999_999;

const unitMillis: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** Encodes a remaining time in milliseconds (>= 0), rounding up. */
export function encodeTimeout(millis: number): string {
  const ms = Math.max(0, Math.ceil(millis));
  if (ms <= MAX_DIGITS_VALUE) {
    return `${ms}m`;
  }
  for (const [unit, size] of [
    ["S", 1_000],
    ["M", 60_000],
    ["H", 3_600_000],
  ] as const) {
    const value = Math.ceil(ms / size);
    if (value <= MAX_DIGITS_VALUE) {
      return `${value}${unit}`;
    }
  }
  return `${MAX_DIGITS_VALUE}H`;
}

/** Parses a `grpc-timeout` value into milliseconds; undefined if malformed. */
export function parseTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) {
    return undefined;
  }
  return Number(match[1]) * unitMillis[match[2]];
}

// setTimeout cannot wait longer than this; later deadlines never fire.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Calls `onExpired` with a DEADLINE_EXCEEDED error at `deadline` (ms since
 * the epoch; at once if it has passed). Returns the timer to clear, or
 * undefined when the deadline is too far away to ever matter.
 */
export function deadlineTimer(deadline: number, onExpired: (error: TunnelError) => void): NodeJS.Timeout | undefined {
  const delay = deadline - Date.now();
  if (delay > MAX_TIMER_MS) {
    return undefined;
  }
  return setTimeout(() => onExpired(new TunnelError(Code.DEADLINE_EXCEEDED, "deadline exceeded")), Math.max(0, delay));
}

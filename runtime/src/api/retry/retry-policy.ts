import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code } from "../../code.js";

/**
 * Retries of failed calls, for methods whose proto says repeating them is
 * safe. Like gRPC's `retryPolicy`: the n-th retry waits a random time
 * between 0 and min(initialBackoffMs × backoffMultiplier^(n-1), maxBackoffMs).
 */
export interface RetryPolicy {
  /** Attempts at most, the first included (default 3; 2 to 10). */
  maxAttempts?: number;
  /** Upper bound of the first retry's random wait (default 100 ms). */
  initialBackoffMs?: number;
  /** Upper bound of any retry's random wait (default 2,000 ms). */
  maxBackoffMs?: number;
  /** Growth of the bound per retry (default 2). */
  backoffMultiplier?: number;
  /** The status codes retried (default: UNAVAILABLE only). */
  retryableCodes?: readonly Code[];
  /** The client's retry budget (token bucket). */
  budget?: RetryBudget;
}

/**
 * Hedged calls, for methods whose proto says repeating them is safe. Like
 * gRPC's `hedgingPolicy`: when no answer came `delayMs` after an attempt
 * started, the next attempt starts on another tunnel of the key (never on a
 * tunnel already carrying an attempt); the first attempt that answers (a
 * response, or a successful end) wins and the others are cancelled.
 */
export interface HedgingPolicy {
  /** Attempts at most, the first included (default 2; 2 to 10). */
  maxAttempts?: number;
  /** How long an attempt may go without an answer before the next starts (default 100 ms). */
  delayMs?: number;
  /** Failures after which the next attempt starts at once; any other failure ends the call (default: UNAVAILABLE only). */
  nonFatalCodes?: readonly Code[];
  /** The client's retry budget (token bucket). */
  budget?: RetryBudget;
}

/**
 * The retry budget of one client, gRPC's retry throttling: a bucket of
 * `maxTokens` tokens (default 10), filled at first. Every failed attempt
 * whose code could be retried takes one token, every successful one gives
 * back `tokenRatio` (default 0.1); retries and hedges start only while more
 * than half of the tokens are left. So when most calls fail, the client
 * stops multiplying the load.
 */
export interface RetryBudget {
  /** The bucket's size (default 10). */
  maxTokens?: number;
  /** Tokens a successful attempt gives back (default 0.1). */
  tokenRatio?: number;
}

/** gRPC's trailer through which a server asks for a retry delay (or, negative, for none). */
export const RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms";

/** True for the methods retries and hedging may repeat: `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT. */
export function mayRepeat(method: DescMethod): boolean {
  const level = method.idempotency;
  return level === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS || level === MethodOptions_IdempotencyLevel.IDEMPOTENT;
}

/** A retry or hedging policy with its defaults filled in, and its client's budget. */
export interface ResolvedPolicy {
  readonly hedging: boolean;
  readonly maxAttempts: number;
  /** Retryable codes (retries) or non-fatal codes (hedging). */
  readonly codes: ReadonlySet<number>;
  /** Hedging: the delay before the next attempt. */
  readonly hedgingDelayMs: number;
  readonly throttle: RetryThrottle;
  /** The random wait before retry number `retry` (1 for the first retry). */
  backoff(retry: number): number;
}

/** Checks `retry` or `hedging` (at most one) and fills in the defaults; undefined when neither is on. */
export function resolvePolicy(retry: boolean | RetryPolicy | undefined, hedging: HedgingPolicy | undefined): ResolvedPolicy | undefined {
  if (retry !== undefined && retry !== false && hedging !== undefined) {
    throw new RangeError("a client takes either retry or hedging, not both");
  }
  if (hedging !== undefined) {
    const delayMs = hedging.delayMs ?? 100;
    check("hedging.delayMs", delayMs, 0, Number.MAX_SAFE_INTEGER);
    return {
      hedging: true,
      maxAttempts: attempts("hedging.maxAttempts", hedging.maxAttempts ?? 2),
      codes: new Set(hedging.nonFatalCodes ?? [Code.UNAVAILABLE]),
      hedgingDelayMs: delayMs,
      throttle: new RetryThrottle(hedging.budget),
      backoff: () => 0,
    };
  }
  if (retry === undefined || retry === false) {
    return undefined;
  }
  const policy = retry === true ? {} : retry;
  const initial = policy.initialBackoffMs ?? 100;
  const max = policy.maxBackoffMs ?? 2_000;
  const multiplier = policy.backoffMultiplier ?? 2;
  check("retry.initialBackoffMs", initial, 0, Number.MAX_SAFE_INTEGER);
  check("retry.maxBackoffMs", max, initial, Number.MAX_SAFE_INTEGER);
  check("retry.backoffMultiplier", multiplier, 1, 100);
  return {
    hedging: false,
    maxAttempts: attempts("retry.maxAttempts", policy.maxAttempts ?? 3),
    codes: new Set(policy.retryableCodes ?? [Code.UNAVAILABLE]),
    hedgingDelayMs: 0,
    throttle: new RetryThrottle(policy.budget),
    backoff: (n) => Math.random() * Math.min(initial * multiplier ** (n - 1), max),
  };
}

function attempts(name: string, value: number): number {
  if (!Number.isInteger(value)) {
    throw new RangeError(`${name} must be an integer (got ${value})`);
  }
  check(name, value, 2, 10);
  return value;
}

function check(name: string, value: number, min: number, max: number): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw new RangeError(`${name} must be between ${min} and ${max} (got ${value})`);
  }
}

/** One client's retry budget: gRPC's retry throttling (see RetryBudget). */
export class RetryThrottle {
  private readonly maxTokens: number;
  private readonly ratio: number;
  private tokens: number;

  constructor(budget: RetryBudget = {}) {
    this.maxTokens = budget.maxTokens ?? 10;
    this.ratio = budget.tokenRatio ?? 0.1;
    check("budget.maxTokens", this.maxTokens, 1, 1_000);
    check("budget.tokenRatio", this.ratio, 0.001, 1);
    this.tokens = this.maxTokens;
  }

  /** Whether a retry or hedge may start now. */
  allows(): boolean {
    return this.tokens > this.maxTokens / 2;
  }

  /** An attempt failed with a code that could be retried. */
  failed(): void {
    this.tokens = Math.max(0, this.tokens - 1);
  }

  /** An attempt succeeded. */
  succeeded(): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + this.ratio);
  }
}

// What a retry or hedging policy resolves to: its defaults, each limit at
// its exact bound (with the error naming the option), the random backoff
// within its bound, and the retry budget's token arithmetic (gRPC's retry
// throttling).
import { describe, expect, it } from "vitest";
import { resolvePolicy, RetryThrottle } from "../src/api/retry/index.js";
import { Code } from "../src/index.js";

/** The largest of many backoffs drawn for retry `n`: under the bound, and (all but certainly) above half of it. */
function largestBackoff(backoff: (n: number) => number, n: number): number {
  let largest = 0;
  for (let i = 0; i < 300; i++) {
    const wait = backoff(n);
    expect(wait).toBeGreaterThanOrEqual(0);
    largest = Math.max(largest, wait);
  }
  return largest;
}

describe("resolvePolicy", () => {
  it("is off without retry or hedging, or with retry: false", () => {
    expect(resolvePolicy(undefined, undefined)).toBeUndefined();
    expect(resolvePolicy(false, undefined)).toBeUndefined();
  });

  it("retry: true takes gRPC's defaults: 3 attempts, UNAVAILABLE only, backoff up to 100 ms doubling to 2 s", () => {
    const policy = resolvePolicy(true, undefined)!;
    expect(policy.hedging).toBe(false);
    expect(policy.maxAttempts).toBe(3);
    expect([...policy.codes]).toEqual([Code.UNAVAILABLE]);
    for (const [n, bound] of [
      [1, 100],
      [2, 200],
      [3, 400],
      [6, 2_000],
      [9, 2_000],
    ]) {
      const largest = largestBackoff(policy.backoff, n);
      expect(largest).toBeLessThan(bound);
      expect(largest).toBeGreaterThan(bound / 2);
    }
  });

  it("a retry policy's own backoff, codes and attempts", () => {
    const policy = resolvePolicy(
      { maxAttempts: 10, initialBackoffMs: 10, maxBackoffMs: 1_000, backoffMultiplier: 3, retryableCodes: [Code.INTERNAL] },
      undefined,
    )!;
    expect(policy.maxAttempts).toBe(10);
    expect([...policy.codes]).toEqual([Code.INTERNAL]);
    expect(largestBackoff(policy.backoff, 1)).toBeLessThan(10);
    const third = largestBackoff(policy.backoff, 3);
    expect(third).toBeLessThan(90);
    expect(third).toBeGreaterThan(45);
    expect(largestBackoff(policy.backoff, 8)).toBeLessThan(1_000);
  });

  it("hedging takes its defaults: 2 attempts, 100 ms apart, UNAVAILABLE non-fatal, no backoff", () => {
    const policy = resolvePolicy(undefined, {})!;
    expect(policy.hedging).toBe(true);
    expect(policy.maxAttempts).toBe(2);
    expect(policy.hedgingDelayMs).toBe(100);
    expect([...policy.codes]).toEqual([Code.UNAVAILABLE]);
    expect(policy.backoff(1)).toBe(0);
    const own = resolvePolicy(false, { maxAttempts: 10, delayMs: 0, nonFatalCodes: [Code.UNAVAILABLE, Code.INTERNAL] })!;
    expect([own.maxAttempts, own.hedgingDelayMs]).toEqual([10, 0]);
    expect([...own.codes]).toEqual([Code.UNAVAILABLE, Code.INTERNAL]);
  });

  it.each([
    [{ maxAttempts: 1 }, "retry.maxAttempts must be between 2 and 10 (got 1)"],
    [{ maxAttempts: 11 }, "retry.maxAttempts must be between 2 and 10 (got 11)"],
    [{ maxAttempts: 2.5 }, "retry.maxAttempts must be an integer (got 2.5)"],
    [{ initialBackoffMs: -1 }, "retry.initialBackoffMs must be between 0 and 9007199254740991 (got -1)"],
    [{ initialBackoffMs: 50, maxBackoffMs: 49 }, "retry.maxBackoffMs must be between 50 and 9007199254740991 (got 49)"],
    [{ backoffMultiplier: 0.5 }, "retry.backoffMultiplier must be between 1 and 100 (got 0.5)"],
    [{ backoffMultiplier: 101 }, "retry.backoffMultiplier must be between 1 and 100 (got 101)"],
    [{ initialBackoffMs: Number.NaN }, "retry.initialBackoffMs must be between 0 and 9007199254740991 (got NaN)"],
  ])("refuses retry %o", (retry, message) => {
    expect(() => resolvePolicy(retry, undefined)).toThrow(new RangeError(message));
  });

  it("takes each retry limit at its bound", () => {
    expect(resolvePolicy({ maxAttempts: 2, initialBackoffMs: 0, maxBackoffMs: 0, backoffMultiplier: 1 }, undefined)?.maxAttempts).toBe(2);
    expect(resolvePolicy({ initialBackoffMs: 5, maxBackoffMs: 5, backoffMultiplier: 100 }, undefined)?.backoff(3)).toBeLessThan(5);
  });

  it.each([
    [{ maxAttempts: 1 }, "hedging.maxAttempts must be between 2 and 10 (got 1)"],
    [{ maxAttempts: 11 }, "hedging.maxAttempts must be between 2 and 10 (got 11)"],
    [{ delayMs: -1 }, "hedging.delayMs must be between 0 and 9007199254740991 (got -1)"],
  ])("refuses hedging %o", (hedging, message) => {
    expect(() => resolvePolicy(undefined, hedging)).toThrow(new RangeError(message));
  });

  it("refuses retry and hedging together", () => {
    expect(() => resolvePolicy(true, {})).toThrow(new RangeError("a client takes either retry or hedging, not both"));
    expect(resolvePolicy(false, {})?.hedging).toBe(true);
  });
});

describe("RetryThrottle", () => {
  it("allows retries while more than half of the tokens are left; failures take one, successes give the ratio back", () => {
    const throttle = new RetryThrottle({ maxTokens: 4, tokenRatio: 0.5 });
    expect(throttle.allows()).toBe(true); // 4
    throttle.failed();
    expect(throttle.allows()).toBe(true); // 3
    throttle.failed();
    expect(throttle.allows()).toBe(false); // 2: not more than half
    throttle.succeeded();
    expect(throttle.allows()).toBe(true); // 2.5
  });

  it("never holds more than maxTokens, nor fewer than none", () => {
    const full = new RetryThrottle({ maxTokens: 4, tokenRatio: 0.5 });
    full.succeeded(); // still 4, not 4.5
    full.failed();
    full.failed();
    expect(full.allows()).toBe(false); // 2
    const empty = new RetryThrottle({ maxTokens: 4, tokenRatio: 1 });
    for (let i = 0; i < 10; i++) {
      empty.failed(); // stays at 0, not -6
    }
    for (let i = 0; i < 3; i++) {
      empty.succeeded();
    }
    expect(empty.allows()).toBe(true); // 3
  });

  it("defaults to 10 tokens and a ratio of 0.1", () => {
    const throttle = new RetryThrottle();
    for (let i = 0; i < 4; i++) {
      throttle.failed();
    }
    expect(throttle.allows()).toBe(true); // 6
    throttle.failed();
    expect(throttle.allows()).toBe(false); // 5
    throttle.succeeded();
    expect(throttle.allows()).toBe(true); // 5.1
  });

  it.each([
    [{ maxTokens: 0 }, "budget.maxTokens must be between 1 and 1000 (got 0)"],
    [{ maxTokens: 1_001 }, "budget.maxTokens must be between 1 and 1000 (got 1001)"],
    [{ tokenRatio: 0 }, "budget.tokenRatio must be between 0.001 and 1 (got 0)"],
    [{ tokenRatio: 1.5 }, "budget.tokenRatio must be between 0.001 and 1 (got 1.5)"],
  ])("refuses %o", (budget, message) => {
    expect(() => new RetryThrottle(budget)).toThrow(new RangeError(message));
  });

  it("takes each budget limit at its bound", () => {
    expect(new RetryThrottle({ maxTokens: 1, tokenRatio: 0.001 }).allows()).toBe(true);
    expect(new RetryThrottle({ maxTokens: 1_000, tokenRatio: 1 }).allows()).toBe(true);
  });
});

// grpc-timeout as the gRPC over HTTP/2 spec defines it: at most 8 ASCII
// digits and one unit (H hours, M minutes, S seconds, m milliseconds,
// u microseconds, n nanoseconds). A sender rounds up (a deadline sent is
// never earlier than the caller's), a receiver reads each unit exactly.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code } from "../src/index.js";
import type { TunnelError } from "../src/errors.js";
import { deadlineTimer, encodeTimeout, parseTimeout } from "../src/protocol/timeout.js";

const HOUR = 3_600_000;

describe("encodeTimeout", () => {
  const cases: Array<[ms: number, wire: string, why: string]> = [
    [0, "0m", "nothing left"],
    [-250, "0m", "already past: zero, never negative"],
    [0.001, "1m", "a microsecond rounds up to a millisecond"],
    [1, "1m", "whole milliseconds as they are"],
    [1.5, "2m", "a fraction of a millisecond rounds up"],
    [1_999.0001, "2000m", "rounds up, never down"],
    [99_999_999, "99999999m", "the largest value in milliseconds: 8 digits"],
    [99_999_999.5, "100000S", "one more millisecond needs 9 digits: seconds, rounded up"],
    [100_000_001, "100001S", "a millisecond over whole seconds rounds up a second"],
    [99_999_999_000, "99999999S", "the largest value in seconds"],
    [99_999_999_001, "1666667M", "past that: minutes, rounded up"],
    [99_999_999 * 60_000, "99999999M", "the largest value in minutes"],
    [99_999_999 * 60_000 + 1, "1666667H", "past that: hours, rounded up"],
    [99_999_999 * HOUR, "99999999H", "the largest value in hours"],
    [1e20, "99999999H", "anything longer: the longest timeout there is"],
    [Number.POSITIVE_INFINITY, "99999999H", "no deadline at all: the longest timeout there is"],
  ];
  it.each(cases)("%d ms → %s (%s)", (ms, wire) => {
    expect(encodeTimeout(ms)).toBe(wire);
  });

  it("every encoding has at most 8 digits and is never shorter than the time it encodes", () => {
    for (const ms of [0.4, 7, 86_400_000, 99_999_999.01, 123_456_789_012, 9_999_999_999_999, 3e14]) {
      const wire = encodeTimeout(ms);
      expect(wire).toMatch(/^\d{1,8}[HMSm]$/);
      expect(parseTimeout(wire)).toBeGreaterThanOrEqual(ms);
    }
  });
});

describe("parseTimeout", () => {
  const valid: Array<[wire: string, ms: number]> = [
    ["1H", HOUR],
    ["2M", 120_000],
    ["3S", 3_000],
    ["4m", 4],
    ["5u", 0.005],
    ["1000u", 1],
    ["6n", 0.000_006],
    ["1000000n", 1],
    ["0m", 0],
    ["00000001S", 1_000], // leading zeros count as digits: 8 in all
    ["99999999m", 99_999_999],
    ["99999999H", 99_999_999 * HOUR],
  ];
  it.each(valid)("%s → %d ms", (wire, ms) => {
    expect(parseTimeout(wire)).toBe(ms);
  });

  const malformed: Array<[wire: string, why: string]> = [
    ["123456789m", "9 digits"],
    ["000000001m", "9 digits, even with leading zeros"],
    ["", "empty"],
    ["10", "no unit"],
    ["m", "no digits"],
    ["5h", "units are case-sensitive: h is not H"],
    ["5s", "s is not S"],
    ["5U", "U is not u"],
    ["5N", "N is not n"],
    ["5x", "no such unit"],
    ["-5m", "negative"],
    ["1.5S", "not an integer"],
    [" 5m", "leading space"],
    ["5m ", "trailing space"],
    ["5 m", "space before the unit"],
    ["5mm", "two units"],
    ["1e3m", "exponent notation"],
  ];
  it.each(malformed)("%j is malformed (%s)", (wire) => {
    expect(parseTimeout(wire)).toBeUndefined();
  });
});

describe("deadlineTimer", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires DEADLINE_EXCEEDED at the deadline, not before", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const expired: TunnelError[] = [];
    const timer = deadlineTimer(1_000_250, (error) => expired.push(error));
    expect(timer).toBeDefined();
    vi.advanceTimersByTime(249);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ code: Code.DEADLINE_EXCEEDED, rawMessage: "deadline exceeded" });
  });

  it("fires at once (on the next timer turn) for a deadline already past", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const expired: TunnelError[] = [];
    deadlineTimer(999_000, (error) => expired.push(error));
    expect(expired).toEqual([]); // never synchronously: the caller finishes setting up first
    vi.advanceTimersByTime(0);
    expect(expired).toHaveLength(1);
  });

  it("sets no timer for a deadline further away than a timer can wait (2^31 - 1 ms)", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const never = () => expect.unreachable("a deadline this far away never fires");
    expect(deadlineTimer(1_000_000 + 2 ** 31, never)).toBeUndefined();
    const farthest = deadlineTimer(1_000_000 + 2 ** 31 - 1, never);
    expect(farthest).toBeDefined();
    clearTimeout(farthest);
  });
});

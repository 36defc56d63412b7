import { afterEach, describe, expect, it, vi } from "vitest";
import { IdleStreams, type IdleCandidate } from "../src/engine/idle-streams.js";

afterEach(() => vi.useRealTimers());

// Streams carry their start time on the performance.now() clock, so that is faked too.
const fakeClock = () => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });

class Candidate implements IdleCandidate {
  active = false;
  readonly startedAt = performance.now();
  expiredAfter: number | undefined;
  expireIdle(timeoutMs: number): void {
    this.expiredAfter = timeoutMs;
  }
}

describe("IdleStreams", () => {
  it("expires streams still idle at their time, in start order, with one timer", () => {
    fakeClock();
    const idle = new IdleStreams(1_000);
    const first = new Candidate();
    const busy = new Candidate();
    idle.add(first);
    idle.add(busy);
    vi.advanceTimersByTime(500);
    const late = new Candidate();
    idle.add(late);
    busy.active = true;
    vi.advanceTimersByTime(500);
    expect([first.expiredAfter, busy.expiredAfter, late.expiredAfter]).toEqual([1_000, undefined, undefined]);
    expect(vi.getTimerCount()).toBe(1); // re-armed for `late` only
    vi.advanceTimersByTime(500);
    expect(late.expiredAfter).toBe(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("forgets streams that ended, stops with the tunnel, and does nothing with a timeout of 0", () => {
    fakeClock();
    const idle = new IdleStreams(1_000);
    const ended = new Candidate();
    idle.add(ended);
    idle.delete(ended);
    vi.advanceTimersByTime(1_000);
    expect(ended.expiredAfter).toBeUndefined();
    idle.add(new Candidate());
    idle.stop();
    expect(vi.getTimerCount()).toBe(0);
    const off = new IdleStreams(0);
    off.add(new Candidate());
    expect(vi.getTimerCount()).toBe(0);
  });
});

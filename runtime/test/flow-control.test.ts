import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, resolveLimits } from "../src/engine/limits.js";
import { MAX_WINDOW_BYTES } from "../src/protocol/constants.js";
import { ReceiveWindow, SendWindow } from "../src/protocol/flow-control.js";
import { settle } from "./support/events.js";

const KiB = 1024;

/** A receive window whose credit frames are recorded. */
function windowOf(size: number, max: number) {
  const credits: number[] = [];
  const window = new ReceiveWindow(size, max, { sendCredit: (credit) => credits.push(credit) });
  return { window, credits };
}

describe("ReceiveWindow", () => {
  it("refuses a chunk larger than what is left, and accepts one that fills the window exactly", () => {
    const { window } = windowOf(64 * KiB, 64 * KiB);
    expect(window.receive(64 * KiB + 1)).toBe(false);
    expect(window.receive(64 * KiB)).toBe(true);
    expect(window.receive(1)).toBe(false);
  });

  it("batches credit until half the window was consumed", () => {
    const { window, credits } = windowOf(64 * KiB, 64 * KiB);
    window.receive(64 * KiB);
    window.consumed(16 * KiB, false);
    expect(credits).toEqual([]);
    window.consumed(16 * KiB, false);
    expect(credits).toEqual([32 * KiB]);
    window.consumed(32 * KiB, true);
    expect(credits).toEqual([32 * KiB, 32 * KiB]);
  });

  it("grows by doubling, up to its maximum, when a window's worth went through and the reader drained it; the growth rides on that credit", () => {
    const { window, credits } = windowOf(64 * KiB, 256 * KiB);
    for (const expected of [128 * KiB, 256 * KiB, 256 * KiB]) {
      const size = window.current;
      expect(window.receive(size)).toBe(true);
      credits.length = 0;
      window.consumed(size, true);
      expect(credits).toEqual([expected]); // one window_update: what was read plus the growth
      expect(window.current).toBe(expected);
    }
    // The peer may now send the grown window, and no more.
    expect(window.receive(256 * KiB + 1)).toBe(false);
    expect(window.receive(256 * KiB)).toBe(true);
  });

  it("never grows past its maximum, even when doubling would overshoot it: the peer may never send more", () => {
    const { window, credits } = windowOf(64 * KiB, 100 * KiB);
    for (let round = 0; round < 4; round++) {
      const size = window.current;
      expect(window.receive(size)).toBe(true);
      credits.length = 0;
      window.consumed(size, true);
      expect(window.current).toBe(100 * KiB);
      // The credit returned is what was read plus the growth: it opens exactly 100 KiB.
      expect(credits).toEqual([round === 0 ? 64 * KiB + 36 * KiB : 100 * KiB]);
      expect(window.receive(100 * KiB + 1)).toBe(false);
    }
  });

  it("does not grow while something is still queued unread (a reader slower than its sender)", () => {
    const { window, credits } = windowOf(64 * KiB, 1024 * KiB);
    for (let i = 0; i < 4; i++) expect(window.receive(16 * KiB)).toBe(true); // window used up
    for (let i = 0; i < 4; i++) window.consumed(16 * KiB, false);
    expect(credits).toEqual([32 * KiB, 32 * KiB]);
    expect(window.current).toBe(64 * KiB);
  });

  it("does not grow before a whole window's worth of data went through, however quickly it was read", () => {
    const { window, credits } = windowOf(64 * KiB, 1024 * KiB);
    for (let i = 0; i < 6; i++) {
      expect(window.receive(10 * KiB)).toBe(true);
      window.consumed(10 * KiB, true);
    }
    expect(window.current).toBe(64 * KiB); // 60 KiB so far
    expect(credits).toEqual([40 * KiB]);
    window.receive(10 * KiB);
    window.consumed(10 * KiB, true);
    expect(window.current).toBe(128 * KiB);
    expect(credits).toEqual([40 * KiB, 30 * KiB + 64 * KiB]);
  });

  it("at its maximum, returns only what was read", () => {
    const { window, credits } = windowOf(64 * KiB, 64 * KiB);
    window.receive(20 * KiB);
    window.consumed(20 * KiB, true); // below the batch: held
    window.receive(44 * KiB); // the peer's window is now empty
    window.consumed(44 * KiB, true);
    expect(credits).toEqual([64 * KiB]);
    expect(window.current).toBe(64 * KiB);
  });

  it("returns no credit, and does not grow, once stopped", () => {
    const { window, credits } = windowOf(64 * KiB, 1024 * KiB);
    window.receive(64 * KiB);
    window.stop();
    window.consumed(64 * KiB, true);
    expect(credits).toEqual([]);
    expect(window.current).toBe(64 * KiB);
  });

  it("consuming nothing returns no credit and does not grow the window", () => {
    const { window, credits } = windowOf(4, 16);
    window.receive(4);
    window.consumed(4, false); // read, but more is queued: no growth
    expect(credits).toEqual([4]);
    window.consumed(0, true);
    expect(credits).toEqual([4]);
    expect(window.current).toBe(4);
  });

  it("sends the growth at once, even when the credit read with it is below the batch", () => {
    const { window, credits } = windowOf(10, 11);
    window.receive(10);
    window.consumed(9, false);
    expect(credits).toEqual([9]);
    window.consumed(1, true); // 1 byte read, the window grows by 1 (to its maximum)
    expect(credits).toEqual([9, 2]);
    expect(window.current).toBe(11);
  });

  it("after growing, batches credit to half the grown window", () => {
    const { window, credits } = windowOf(4, 8);
    window.receive(4);
    window.consumed(4, true);
    expect(credits).toEqual([8]); // 4 read + 4 growth
    expect(window.current).toBe(8);
    window.receive(3);
    window.consumed(3, false);
    expect(credits).toEqual([8]); // 3 < 4, half the new window
    window.receive(1);
    window.consumed(1, false);
    expect(credits).toEqual([8, 4]);
  });
});

describe("SendWindow", () => {
  it("fills a window that never grew, chunk by chunk (as Go does): waiting for room for a whole message is never worth it", () => {
    const window = new SendWindow(64 * KiB);
    window.take(60 * KiB);
    expect(window.worthWaitingFor(16 * KiB)).toBe(false);
    expect(window.grant(4 * KiB)).toBe(true); // credit back to the advertised size: still not grown
    expect(window.worthWaitingFor(16 * KiB)).toBe(false);
  });

  it("once the peer grew the window, a message of at most half of the largest window seen waits for room rather than being split", () => {
    const window = new SendWindow(64 * KiB);
    window.take(64 * KiB);
    window.grant(256 * KiB); // the grown window: 256 KiB at once
    window.take(200 * KiB);
    expect(window.worthWaitingFor(100 * KiB)).toBe(true); // 56 KiB open, 100 <= 128
    expect(window.worthWaitingFor(56 * KiB)).toBe(false); // fits now
    expect(window.worthWaitingFor(129 * KiB)).toBe(false); // over half: sent in pieces, or it could wait forever
  });

  it("a message of exactly half the largest window seen is worth waiting for", () => {
    const window = new SendWindow(4);
    window.take(4);
    window.grant(8); // grown: 8 at once
    window.take(8);
    expect(window.worthWaitingFor(4)).toBe(true);
    expect(window.worthWaitingFor(5)).toBe(false);
  });

  it("is too small only when it holds less than the rest of the message and less than a quarter of the largest window", () => {
    const window = new SendWindow(100);
    window.take(90); // 10 open, a quarter is 25
    expect(window.tooSmallFor(10)).toBe(false); // the rest fits exactly
    expect(window.tooSmallFor(11)).toBe(true);
    window.grant(15); // 25 open: a quarter exactly
    expect(window.tooSmallFor(50)).toBe(false);
    window.take(25);
    expect(window.tooSmallFor(1)).toBe(true); // closed
  });

  it("remembers the largest window seen: credit after a drain does not shrink it", () => {
    const window = new SendWindow(100);
    window.take(100);
    window.grant(10); // 10 open, the largest seen is still 100
    expect(window.tooSmallFor(50)).toBe(true); // 10 < 25, a quarter of 100
  });

  it("takes credit up to a uint32 window exactly, and refuses one byte more without changing", () => {
    const window = new SendWindow(0);
    expect(window.grant(MAX_WINDOW_BYTES - 1)).toBe(true);
    expect(window.grant(2)).toBe(false);
    expect(window.size).toBe(MAX_WINDOW_BYTES - 1);
    expect(window.grant(1)).toBe(true);
    expect(window.size).toBe(MAX_WINDOW_BYTES);
  });

  it("wakes its waiters when credit opens it, not for credit of 0", async () => {
    const window = new SendWindow(0);
    let woken = 0;
    const waiting = window.whenOpen().then(() => woken++);
    window.grant(0);
    await settle();
    expect(woken).toBe(0);
    window.grant(1);
    await waiting;
    expect(woken).toBe(1);
  });

  it("release wakes its waiters while it is still closed (e.g. the stream ended)", async () => {
    const window = new SendWindow(0);
    let woken = false;
    const waiting = window.whenOpen().then(() => {
      woken = true;
    });
    window.release();
    await settle();
    expect(woken).toBe(true);
    await waiting;
    expect(window.size).toBe(0);
  });
});

describe("flow-control limits", () => {
  it("default: a 64 KiB window that may grow to 4 MiB, chunks up to 4 MiB - 64 bytes (a whole message fits one gRPC message)", () => {
    const limits = resolveLimits(undefined);
    expect(limits).toMatchObject({ receiveWindowBytes: 65_536, maxReceiveWindowBytes: 4_194_304, maxChunkBytes: 4_194_240 });
    expect(DEFAULT_LIMITS.maxChunkBytes).toBe(4_194_240);
  });

  it("a smaller maximum window can be set (e.g. on a network server that takes tunnels from anyone)", () => {
    expect(resolveLimits({ maxReceiveWindowBytes: 256 * KiB }).maxReceiveWindowBytes).toBe(256 * KiB);
  });

  it("setting only receiveWindowBytes fixes the window; setting the maximum too lets it grow", () => {
    expect(resolveLimits({ receiveWindowBytes: 32 * KiB }).maxReceiveWindowBytes).toBe(32 * KiB);
    expect(resolveLimits({ receiveWindowBytes: 32 * KiB, maxReceiveWindowBytes: 512 * KiB }).maxReceiveWindowBytes).toBe(512 * KiB);
    // A maximum below the window is the window.
    expect(resolveLimits({ receiveWindowBytes: 2048 * KiB }).maxReceiveWindowBytes).toBe(2048 * KiB);
    expect(resolveLimits({ maxReceiveWindowBytes: 1 }).maxReceiveWindowBytes).toBe(65_536);
  });

  it("refuses chunk sizes that are not a positive integer or would not fit a 4 MiB gRPC message", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 4 * 1024 * KiB]) {
      expect(() => resolveLimits({ maxChunkBytes: bad })).toThrow(RangeError);
    }
    expect(() => resolveLimits({ maxChunkBytes: 0 })).toThrow(/maxChunkBytes must be an integer from 1 to/);
    expect(resolveLimits({ maxChunkBytes: 1 }).maxChunkBytes).toBe(1);
    expect(resolveLimits({ maxChunkBytes: 1024 * KiB }).maxChunkBytes).toBe(1024 * KiB);
  });
});

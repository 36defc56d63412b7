// The replay buffer of refused-call retries: what a call keeps to send
// again elsewhere is bounded per call and for all calls together; a call
// that outgrows either is committed (never replayed), and what it kept goes
// back when it ends.
import { describe, expect, it } from "vitest";
import { DEFAULT_REPLAY_BUFFER, ReplayBudget, ReplayBuffer } from "../src/api/retry/index.js";

const bytes = (n: number) => new Uint8Array(n);

describe("ReplayBudget", () => {
  it("reserves up to its total exactly, and what is given back can be taken again", () => {
    const budget = new ReplayBudget({ perCallBytes: 100, totalBytes: 100 });
    expect(budget.take(60)).toBe(true);
    expect(budget.take(41)).toBe(false);
    expect(budget.take(40)).toBe(true);
    expect(budget.take(1)).toBe(false);
    budget.give(30);
    expect(budget.take(31)).toBe(false);
    expect(budget.take(30)).toBe(true);
  });

  it("defaults to 64 KiB per call and 16 MiB in all, like grpc-js's retry buffer", () => {
    expect(DEFAULT_REPLAY_BUFFER).toEqual({ perCallBytes: 65_536, totalBytes: 16_777_216 });
  });
});

describe("ReplayBuffer", () => {
  it("keeps requests up to the call's share exactly, by reference and in order", () => {
    const buffer = new ReplayBuffer(new ReplayBudget({ perCallBytes: 10, totalBytes: 1_000 }));
    const [first, second, third] = [bytes(4), bytes(6), bytes(1)];
    expect(buffer.keep(first)).toBe(true);
    expect(buffer.keep(second)).toBe(true);
    expect(buffer.keep(third)).toBe(false); // 11 > 10: the call is committed
    expect(buffer.kept).toEqual([first, second]);
    expect(buffer.kept[0]).toBe(first);
  });

  it("keeps nothing when the budget of all calls is full, though the call's share has room", () => {
    const budget = new ReplayBudget({ perCallBytes: 10, totalBytes: 12 });
    const a = new ReplayBuffer(budget);
    const b = new ReplayBuffer(budget);
    expect(a.keep(bytes(8))).toBe(true);
    expect(b.keep(bytes(5))).toBe(false);
    expect(b.kept).toEqual([]);
    expect(b.keep(bytes(4))).toBe(true);
  });

  it("gives everything back on release: other calls can keep it, and the call keeps anew from zero", () => {
    const budget = new ReplayBudget({ perCallBytes: 10, totalBytes: 10 });
    const a = new ReplayBuffer(budget);
    const b = new ReplayBuffer(budget);
    expect(a.keep(bytes(10))).toBe(true);
    expect(b.keep(bytes(1))).toBe(false);
    a.release();
    expect(a.kept).toEqual([]);
    expect(b.keep(bytes(10))).toBe(true);
    b.release();
    expect(a.keep(bytes(10))).toBe(true);
  });

  it("keeps nothing without a budget (retries turned off)", () => {
    const buffer = new ReplayBuffer(undefined);
    expect(buffer.keep(bytes(1))).toBe(false);
    expect(buffer.kept).toEqual([]);
    buffer.release();
  });
});

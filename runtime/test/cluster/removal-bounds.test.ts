// The bound on the removals a replica keeps for Redis while it cannot write
// them (PendingRemovals): one entry per key, the oldest dropped past the
// limit, each overflow reported once with how many went, and an episode of
// overflows that ends only once every removal was written.
import { describe, expect, it } from "vitest";
import { PendingRemovals, type RemovalsOverflow, removalCost } from "../../src/cluster/directory/index.js";

function removals(maxBytes: number) {
  const overflows: RemovalsOverflow[] = [];
  return { pending: new PendingRemovals(maxBytes, (overflow) => overflows.push(overflow)), overflows };
}

describe("pending removals", () => {
  it("a key removed twice is held once, at the later change", () => {
    const { pending, overflows } = removals(10_000);
    pending.add("k", 1);
    pending.add("k", 2);
    expect(pending.entries()).toEqual([["k", 2]]);
    expect(pending.bytes).toBe(removalCost("k"));
    pending.written("k", 1); // the earlier write no longer settles it
    expect(pending.size).toBe(1);
    pending.written("k", 2);
    expect([pending.size, pending.bytes]).toEqual([0, 0]);
    expect(overflows).toEqual([]);
  });

  it("within the limit nothing is dropped or reported; past it the oldest go, reported with how many", () => {
    const cost = removalCost("a"); // every key here is one character
    const { pending, overflows } = removals(3 * cost);
    for (const [i, key] of ["a", "b", "c"].entries()) pending.add(key, i + 1);
    expect(overflows).toEqual([]);
    expect(pending.dropped).toBe(0);
    pending.add("d", 4);
    expect(pending.entries()).toEqual([
      ["b", 2],
      ["c", 3],
      ["d", 4],
    ]);
    expect(overflows).toEqual([{ dropped: 1, firstOfEpisode: true }]);
    pending.add("e", 5);
    expect(overflows).toEqual([
      { dropped: 1, firstOfEpisode: true },
      { dropped: 1, firstOfEpisode: false },
    ]);
    expect([pending.dropped, pending.bytes]).toEqual([2, 3 * cost]);
  });

  it("a key larger than the whole limit is dropped at once, leaving nothing held", () => {
    const { pending, overflows } = removals(10);
    pending.add("too-long-to-keep", 1);
    expect([pending.size, pending.bytes, pending.dropped]).toEqual([0, 0, 1]);
    expect(overflows).toEqual([{ dropped: 1, firstOfEpisode: true }]);
  });

  it("an overflow episode ends once every removal was written: the next overflow is first again", () => {
    const cost = removalCost("a");
    const { pending, overflows } = removals(cost);
    pending.add("a", 1);
    pending.add("b", 2); // drops a
    pending.written("b", 2);
    pending.add("c", 3);
    pending.add("d", 4); // drops c: a new episode
    expect(overflows.map((o) => o.firstOfEpisode)).toEqual([true, true]);
    pending.settled(); // d is still pending: the episode goes on
    pending.add("e", 5);
    expect(overflows.map((o) => o.firstOfEpisode)).toEqual([true, true, false]);
  });
});

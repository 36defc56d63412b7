import { describe, expect, it } from "vitest";
import { NumberRing } from "../src/engine/number-ring.js";

describe("NumberRing", () => {
  it("is first-in first-out across wrap-arounds and growth", () => {
    const ring = new NumberRing();
    const expected: number[] = [];
    let next = 0;
    // Interleaved pushes and shifts wrap the ring many times; bursts make it grow.
    for (let round = 0; round < 200; round++) {
      const pushes = round % 7 === 0 ? 40 : 3;
      for (let i = 0; i < pushes; i++) {
        ring.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < 2 && expected.length > 0; i++) {
        expect(ring.shift()).toBe(expected.shift());
      }
      expect(ring.size).toBe(expected.length);
    }
    while (expected.length > 0) expect(ring.shift()).toBe(expected.shift());
    expect(ring.size).toBe(0);
  });

  it("keeps large and negative integers exactly", () => {
    const ring = new NumberRing();
    for (const value of [-640, 2 ** 40 + 1, 0, -(2 ** 33)]) ring.push(value);
    expect([ring.shift(), ring.shift(), ring.shift(), ring.shift()]).toEqual([-640, 2 ** 40 + 1, 0, -(2 ** 33)]);
  });
});

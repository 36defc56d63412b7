import { describe, expect, it } from "vitest";
import { Fifo } from "../src/engine/fifo.js";

describe("Fifo", () => {
  it("is first-in first-out, with its size, across emptying and long runs that never empty", () => {
    const fifo = new Fifo<number>();
    const expected: number[] = [];
    let next = 0;
    const push = (n: number) => {
      for (let i = 0; i < n; i++) {
        fifo.push(next);
        expected.push(next++);
      }
    };
    const shift = (n: number) => {
      for (let i = 0; i < n; i++) expect(fifo.shift()).toBe(expected.shift());
      expect(fifo.size).toBe(expected.length);
    };
    push(3);
    shift(3); // emptied
    push(2);
    shift(1);
    // A queue that never empties: 5,000 items in, 4,000 out, in waves (the queue compacts itself meanwhile).
    for (let wave = 0; wave < 50; wave++) {
      push(100);
      shift(80);
    }
    shift(expected.length);
    expect(fifo.size).toBe(0);
    push(1);
    shift(1);
  });
});

/**
 * A first-in first-out queue of numbers in a growable ring: pushing and
 * shifting allocate nothing once it is large enough (the frame writer
 * records one number per frame it writes, and the queue empties after
 * nearly every one; Fifo would allocate a new array each time).
 */
export class NumberRing {
  private items = new Float64Array(16);
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(value: number): void {
    const items = this.items;
    if (this.count === items.length) {
      // Full: the oldest run from head to the end, then the rest from 0.
      const grown = new Float64Array(items.length * 2);
      grown.set(items.subarray(this.head));
      grown.set(items.subarray(0, this.head), items.length - this.head);
      this.items = grown;
      this.head = 0;
    }
    this.items[(this.head + this.count) & (this.items.length - 1)] = value;
    this.count++;
  }

  /** The oldest number; only call when size > 0. */
  shift(): number {
    const value = this.items[this.head];
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return value;
  }
}

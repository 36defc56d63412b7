/** A first-in first-out queue with O(1) shift (arrays' shift is O(n)). */
export class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item; only call when size > 0. */
  shift(): T {
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined;
    // Stryker disable next-line ConditionalExpression,BlockStatement: starting afresh when emptied, like compacting below, changes memory and speed only, never what comes out
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      return item;
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator,LogicalOperator,ArithmeticOperator,BlockStatement: when (and whether) to compact changes memory and speed only, never what comes out
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

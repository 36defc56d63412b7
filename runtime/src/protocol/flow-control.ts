import { MAX_WINDOW_BYTES } from "./constants.js";

/**
 * The send side of one stream's flow-control window (revision 1): starts at
 * the size the peer advertised, shrinks by each chunk sent, grows with each
 * `window_update`. Senders wait while it is 0.
 */
export class SendWindow {
  private available: number;
  /** The most credit seen at once: the peer's window is at least this large. */
  private largest: number;
  /** Allocated on the first wait: most streams never wait for credit. */
  private waiters: Array<() => void> | undefined;

  constructor(private readonly initial: number) {
    this.available = initial;
    this.largest = initial;
  }

  get size(): number {
    return this.available;
  }

  /**
   * True when a message of `n` bytes that does not fit now is better sent
   * whole later, so it is not split at the window's edge (a split costs a
   * frame, and a copy on reassembly). Only once the peer has grown the
   * window (its reader keeps up, so credit comes soon; a fixed window, Go's,
   * is filled as the reference does), and only for a message of at most
   * half of what the window has held: asked between messages, everything
   * sent is whole messages, and a receiver returns their credit by the time
   * half its window is consumed (the protocol's batching bound; Go returns
   * each chunk's at once), so once the peer has read them at least that
   * much is open again. Waiting cannot stall.
   */
  worthWaitingFor(n: number): boolean {
    return n > this.available && n * 2 <= this.largest && this.largest > this.initial;
  }

  /**
   * True when the open window is too small for the next chunk of a message
   * with `left` bytes to go: it is closed, or it holds less than the rest
   * of the message and less than a quarter of the largest window seen.
   *
   * Sending whatever credit came back, however little, splits the window
   * for good (TCP's silly window syndrome): a receiver returns credit chunk
   * by chunk (Go: one update per chunk), a message's end splits a chunk's
   * credit into a tail and the next message's head, and a sender that wakes
   * on each update never merges them again. Against Go's fixed 64 KiB window
   * and 64 KiB messages that grew to ~16 tiny chunks per message, each
   * a wait for a round trip (7 MiB/s against Go-to-Go's 94). Waiting for a
   * quarter merges the credit again.
   *
   * Waiting cannot stall: a receiver returns the credit of every chunk its
   * application read (messages larger than the window need that), holding
   * back less than half its window (the protocol's batching bound). Once
   * everything sent is read, more than half the window (at least `largest`)
   * is open again: more than the quarter waited for.
   */
  tooSmallFor(left: number): boolean {
    return this.available < left && this.available < this.minChunk;
  }

  /** A quarter of the largest window seen (16 KiB for 64 KiB, Go's chunk size), at least 1. */
  private get minChunk(): number {
    return Math.max(1, Math.floor(this.largest / 4));
  }

  /** Uses `n` bytes of the window (n <= size). */
  take(n: number): void {
    this.available -= n;
  }

  /**
   * Adds credit from a `window_update`. Returns false, leaving the window
   * unchanged, when the result would not fit in a uint32.
   */
  grant(credit: number): boolean {
    if (this.available + credit > MAX_WINDOW_BYTES) {
      return false;
    }
    this.available += credit;
    if (this.available > this.largest) {
      this.largest = this.available;
    }
    if (this.available > 0) {
      this.wake();
    }
    return true;
  }

  /** Resolves once the window is open (or `release` is called). */
  whenOpen(): Promise<void> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /** Wakes every waiter, e.g. because the stream ended; they re-check state. */
  release(): void {
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    if (waiters === undefined) {
      return;
    }
    this.waiters = undefined;
    for (const wake of waiters) {
      wake();
    }
  }
}

/**
 * The receive side of one stream's window (revision 1). Every data chunk
 * must fit in what is left; consumed bytes are returned to the sender as
 * credit. Credit is batched until it reaches half the window: a sender can
 * only be stalled with a full window in flight, and once the application has
 * consumed it the batch is at least half the window, so it is always sent.
 *
 * The window starts at the size advertised for the stream and grows (by
 * doubling, up to `maxSize`) while the stream moves a whole window's worth
 * of data and the reader keeps up with it (drains everything queued). The
 * sender cannot be seen to wait (credit may be in flight), so this is the
 * sign that a larger window can pay. A reader slower than its sender has
 * more queued whenever the window runs out, so its window (and the memory a
 * peer can make it hold) stays as advertised. A sender slower than its
 * reader also gets a larger window after a window's worth: harmless while
 * the reader keeps up, and never more than `maxSize` if it stops.
 */
/**
 * Where a receive window returns credit: its stream, which sends the
 * window update. An object rather than a callback, so a stream does not pay
 * for a closure (and its context) of its own.
 */
export interface CreditSink {
  sendCredit(credit: number): void;
}

export class ReceiveWindow {
  /** How many more bytes may be queued unread: the window less what is unread. */
  private remaining: number;
  private size: number;
  private pendingCredit = 0;
  private stopped = false;
  /** Bytes received since the window last grew (or the stream began). */
  private receivedSinceGrowth = 0;
  private threshold: number;

  constructor(
    size: number,
    private readonly maxSize: number,
    private readonly sink: CreditSink,
  ) {
    this.size = size;
    this.remaining = size;
    this.threshold = Math.max(1, Math.floor(size / 2));
  }

  /** The current window: the advertised size, or more once it has grown. */
  get current(): number {
    return this.size;
  }

  /** Accounts for an arriving chunk; false when it overruns the window. */
  receive(n: number): boolean {
    if (n > this.remaining) {
      return false;
    }
    this.remaining -= n;
    this.receivedSinceGrowth += n;
    return true;
  }

  /**
   * Marks `n` bytes as consumed by the application; `drained` says nothing
   * else is queued unread. When the window grows, the growth goes out with
   * this credit in one `window_update` (so the sender sees it at once and
   * can send larger chunks).
   */
  consumed(n: number, drained: boolean): void {
    if (n === 0 || this.stopped) {
      return;
    }
    this.remaining += n;
    this.pendingCredit += n;
    let growth = 0;
    if (drained && this.receivedSinceGrowth >= this.size && this.size < this.maxSize) {
      this.receivedSinceGrowth = 0;
      growth = Math.min(this.size, this.maxSize - this.size);
      this.size += growth;
      this.remaining += growth;
      this.pendingCredit += growth;
      this.threshold = Math.max(1, Math.floor(this.size / 2));
    }
    if (growth > 0 || this.pendingCredit >= this.threshold) {
      const credit = this.pendingCredit;
      this.pendingCredit = 0;
      this.sink.sendCredit(credit);
    }
  }

  /** No more data will arrive: stop returning credit. */
  stop(): void {
    this.stopped = true;
  }
}

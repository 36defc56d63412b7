import type { FrameConn } from "../../src/engine/frame-conn.js";
import type { TunnelError } from "../../src/errors.js";

/**
 * A FrameConn that records what an engine writes, for driving an engine with
 * recorded or hand-built frames. `writable` can be switched off to exercise
 * back-pressure: frames written meanwhile count as sent only on `drain`.
 * `readingPaused` tells whether the engine asked it to stop reading.
 */
export class MemoryConn<Out> implements FrameConn<Out> {
  readonly written: Out[] = [];
  ended = false;
  abortedWith: TunnelError | undefined;
  writable = true;
  readingPaused = false;
  private drainListeners: Array<() => void> = [];
  private closedListeners: Array<() => void> = [];
  /** `sent` callbacks of frames written while not writable, in order. */
  private unsent: Array<() => void> = [];
  private waiters: Array<{ test: (frames: Out[]) => boolean; wake: () => void }> = [];

  write(frame: Out, sent: () => void): boolean {
    this.written.push(frame);
    if (this.writable && this.unsent.length === 0) {
      queueMicrotask(sent);
    } else {
      this.unsent.push(sent);
    }
    this.check();
    return this.writable;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  onClosed(listener: () => void): void {
    this.closedListeners.push(listener);
  }

  pauseReading(): void {
    this.readingPaused = true;
  }

  resumeReading(): void {
    this.readingPaused = false;
  }

  /** The peer read everything: frames written so far count as sent, and the writer may go on. */
  drain(): void {
    this.writable = true;
    for (const sent of this.unsent.splice(0)) {
      sent();
    }
    for (const listener of this.drainListeners) {
      listener();
    }
  }

  end(): void {
    this.ended = true;
    this.closed();
    this.check();
  }

  abort(error: TunnelError): void {
    this.abortedWith = error;
    this.closed();
    this.check();
  }

  private closed(): void {
    this.unsent = [];
    for (const listener of this.closedListeners.splice(0)) {
      listener();
    }
  }

  /** Resolves once `test` holds for the frames written so far. */
  until(test: (frames: Out[]) => boolean): Promise<void> {
    if (test(this.written)) {
      return Promise.resolve();
    }
    return new Promise((wake) => this.waiters.push({ test, wake }));
  }

  private check(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.test(this.written)) {
        waiter.wake();
        return false;
      }
      return true;
    });
  }
}

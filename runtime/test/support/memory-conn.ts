import type { FrameConn } from "../../src/engine/frame-conn.js";
import type { TunnelError } from "../../src/errors.js";

/**
 * A FrameConn that records what an engine writes, for driving an engine with
 * recorded or hand-built frames. `writable` can be switched off to exercise
 * back-pressure.
 */
export class MemoryConn<Out> implements FrameConn<Out> {
  readonly written: Out[] = [];
  ended = false;
  abortedWith: TunnelError | undefined;
  writable = true;
  private drainListeners: Array<() => void> = [];
  private waiters: Array<{ test: (frames: Out[]) => boolean; wake: () => void }> = [];

  write(frame: Out): boolean {
    this.written.push(frame);
    this.check();
    return this.writable;
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  drain(): void {
    this.writable = true;
    for (const listener of this.drainListeners) {
      listener();
    }
  }

  end(): void {
    this.ended = true;
    this.check();
  }

  abort(error: TunnelError): void {
    this.abortedWith = error;
    this.check();
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

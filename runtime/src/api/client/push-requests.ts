import { Code } from "../../code.js";
import { deferred, type Deferred } from "../../deferred.js";
import { TunnelError } from "../../errors.js";

interface Pushed<T> {
  readonly message: T;
  readonly sent: Deferred<void>;
}

/**
 * Requests pushed one by one, as the request stream of a typed call. A
 * push resolves once the call asked for the request after it, i.e. once it
 * has sent this one (the typed calls send each request before taking the
 * next), so a sender that awaits each push holds one request at a time.
 */
export class PushRequests<T> implements AsyncIterableIterator<T> {
  private readonly queue: Pushed<T>[] = [];
  /** The request handed to the call last: sent once the call asks again. */
  private handedOut: Pushed<T> | undefined;
  private waiting: Deferred<IteratorResult<T>> | undefined;
  private closed = false;
  private failure: TunnelError | undefined;

  push(message: T): Promise<void> {
    if (this.failure !== undefined) {
      return Promise.reject(this.failure);
    }
    if (this.closed) {
      return Promise.reject(new TunnelError(Code.INTERNAL, "send after close"));
    }
    const pushed: Pushed<T> = { message, sent: deferred() };
    if (this.waiting !== undefined) {
      const waiting = this.waiting;
      this.waiting = undefined;
      this.handedOut = pushed;
      waiting.resolve({ value: message, done: false });
    } else {
      this.queue.push(pushed);
    }
    return pushed.sent.promise;
  }

  /** No more requests: the call half-closes once it has sent those pushed before. */
  close(): void {
    this.closed = true;
    this.wakeDone();
  }

  /** The call ended: pushes still waiting, and later ones, fail with `error`. */
  end(error: TunnelError): void {
    this.failure ??= error;
    this.handedOut?.sent.reject(error);
    this.handedOut = undefined;
    for (const pushed of this.queue.splice(0)) {
      pushed.sent.reject(error);
    }
    this.closed = true;
    this.wakeDone();
  }

  next(): Promise<IteratorResult<T>> {
    this.handedOut?.sent.resolve();
    this.handedOut = undefined;
    const pushed = this.queue.shift();
    if (pushed !== undefined) {
      this.handedOut = pushed;
      return Promise.resolve({ value: pushed.message, done: false });
    }
    if (this.closed) {
      return Promise.resolve({ value: undefined, done: true });
    }
    this.waiting = deferred();
    return this.waiting.promise;
  }

  /** The call stopped taking requests (it ended, or failed to send one). */
  return(): Promise<IteratorResult<T>> {
    this.closed = true;
    this.wakeDone();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private wakeDone(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
  }
}

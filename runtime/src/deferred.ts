/** A promise with its resolve and reject exposed (Node 20 has no `Promise.withResolvers`). */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A one-time outcome whose promise is made only when someone asks for it:
 * most calls' outcomes are never awaited (a retrying call's start, its
 * attempts' decisions), and a deferred costs a promise and two closures.
 */
export class LazyDeferred<T = void> {
  private outcome: { value: T } | undefined;
  private made: Promise<T> | undefined;
  private resolveMade: ((value: T) => void) | undefined;

  /** True once resolved. */
  get resolved(): boolean {
    return this.outcome !== undefined;
  }

  /** Resolves with the value (at once if it is there). */
  get promise(): Promise<T> {
    if (this.made === undefined) {
      const outcome = this.outcome;
      this.made =
        outcome !== undefined
          ? Promise.resolve(outcome.value)
          : new Promise((resolve) => {
              this.resolveMade = resolve;
            });
    }
    return this.made;
  }

  /** Resolves with `value`; later calls do nothing. */
  resolve(value: T): void {
    if (this.outcome === undefined) {
      this.outcome = { value };
      this.resolveMade?.(value);
    }
  }
}

/** `promise`, or a rejection with the signal's reason if `signal` aborts first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Small synchronisation helpers for tests: wait on events, never on time. */

/**
 * Events in the order they happened. `waitFor` resolves with the first event
 * (already recorded or still to come) that matches, so waiting never races
 * with the event.
 */
export class EventLog<T> {
  readonly items: T[] = [];
  private checks: Array<() => boolean> = [];

  push(item: T): void {
    this.items.push(item);
    this.checks = this.checks.filter((check) => !check());
  }

  waitFor(match: (item: T) => boolean = () => true): Promise<T> {
    return this.waitForCount(1, match).then((found) => found[0]);
  }

  /** Resolves with the first `n` events matching `match`, once there are that many. */
  waitForCount(n: number, match: (item: T) => boolean = () => true): Promise<T[]> {
    return new Promise((resolve) => {
      const check = () => {
        const matching = this.items.filter(match);
        if (matching.length < n) {
          return false;
        }
        resolve(matching.slice(0, n));
        return true;
      };
      if (!check()) {
        this.checks.push(check);
      }
    });
  }

  count(match: (item: T) => boolean = () => true): number {
    return this.items.filter(match).length;
  }
}

/** Lets every pending promise callback run (one macrotask turn); not a timed wait. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The outcome of a promise as a value, for asserting on rejections without try/catch. */
export async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Milliseconds `promise` took to settle from now, measured around the awaited event. */
export async function timed<T>(
  promise: Promise<T>,
): Promise<{ ms: number; result: { ok: true; value: T } | { ok: false; error: unknown } }> {
  const start = performance.now();
  const result = await outcome(promise);
  return { ms: performance.now() - start, result };
}

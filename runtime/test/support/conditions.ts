/**
 * Waiting for state that changes without an event to wait on (a key expiring
 * inside Redis): probe until the value is accepted or the deadline passes.
 * The short pause between probes is a polling interval, never the
 * synchronisation itself: the deadline is what the test asserts.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs: number,
): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  for (;;) {
    const value = await probe();
    const ms = performance.now() - start;
    if (accept(value)) {
      return { value, ms };
    }
    if (ms > timeoutMs) {
      throw new Error(`${what}: not the case after ${Math.round(ms)} ms; last value ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

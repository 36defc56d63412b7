import { afterEach, beforeEach, expect } from "vitest";
import type { Cleanup } from "../support/servers.js";

/** Kinds of handles a tunnel could leak: sockets, servers and timers. */
const WATCHED = new Set(["TCPSocketWrap", "TCPServerWrap", "Timeout", "ProcessWrap"]);

export function watchedResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (WATCHED.has(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Resources present now that were not at `baseline` (more of a kind than before). */
export function leakedSince(baseline: Record<string, number>): Record<string, number> {
  const now = watchedResources();
  const leaked: Record<string, number> = {};
  for (const [kind, count] of Object.entries(now)) {
    if (count > (baseline[kind] ?? 0)) leaked[kind] = count - (baseline[kind] ?? 0);
  }
  return leaked;
}

/**
 * Waits (yielding with setImmediate, which is not a watched timer) until no
 * watched resource is left over from `baseline`, as sockets close
 * asynchronously; returns what is still leaked after `timeoutMs`.
 */
export async function settleLeaks(baseline: Record<string, number>, timeoutMs = 3_000): Promise<Record<string, number>> {
  const deadline = performance.now() + timeoutMs;
  let leaked = leakedSince(baseline);
  while (Object.keys(leaked).length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
    leaked = leakedSince(baseline);
  }
  return leaked;
}

/**
 * Registers hooks so that every test of the file runs its cleanups and then
 * leaves no socket, server or timer behind (sockets close asynchronously,
 * hence the settling).
 */
export function expectNoLeaksAfterEach(cleanup: Cleanup): void {
  let baseline: Record<string, number>;
  beforeEach(() => {
    baseline = watchedResources();
  });
  afterEach(async () => {
    await cleanup.run();
    expect(await settleLeaks(baseline)).toEqual({});
  });
}

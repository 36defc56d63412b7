import { setTimeout as sleep } from "node:timers/promises";
import type { ServeResult } from "./reverse-tunnel-server.js";

/** Backoff between attempts to re-open a reverse tunnel. */
export interface ReconnectOptions {
  /** Delay before the first retry (default 100 ms). */
  initialBackoffMs?: number;
  /** Upper bound of the delay (default 30 s). */
  maxBackoffMs?: number;
  /** Growth factor per failed attempt (default 1.6, as gRPC's connection backoff). */
  multiplier?: number;
  /** Random spread, a fraction of the delay (default 0.2: ±20%). */
  jitter?: number;
  /** Called each time a tunnel is open. */
  onConnect?: () => void;
  /** Called each time a tunnel ended or could not be opened, with the reason. */
  onDisconnect?: (result: ServeResult) => void;
}

/**
 * Runs `serveOnce` again and again until `stop` aborts. The backoff grows
 * with every attempt that fails to start and resets once a tunnel was up.
 * Resolves with the last result.
 */
export async function serveWithReconnect(
  serveOnce: (onStarted: () => void) => Promise<ServeResult>,
  options: ReconnectOptions,
  stop: AbortSignal,
): Promise<ServeResult> {
  const initial = options.initialBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 30_000;
  const multiplier = options.multiplier ?? 1.6;
  const jitter = options.jitter ?? 0.2;
  let backoff = initial;
  let last: ServeResult = { started: false, error: undefined };
  while (!stop.aborted) {
    last = await serveOnce(() => options.onConnect?.());
    if (last.started) {
      backoff = initial;
    }
    options.onDisconnect?.(last);
    const delay = backoff * (1 + jitter * (Math.random() * 2 - 1));
    backoff = Math.min(max, backoff * multiplier);
    try {
      await sleep(delay, undefined, { signal: stop });
    } catch {
      break; // stopped while waiting
    }
  }
  return last;
}

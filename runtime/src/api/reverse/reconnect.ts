import { setTimeout as sleep } from "node:timers/promises";
import { TunnelError } from "../../errors.js";
import type { ReverseTunnel, ServeResult } from "./reverse-tunnel-server.js";

/**
 * Keep-alive mode of `ReverseTunnelServer.serve`: how to re-open a reverse
 * tunnel after it dropped or could not be opened. The delay before attempt
 * n+1 is `initialBackoffMs * multiplier^n`, capped at `maxBackoffMs`, spread
 * by ±`jitter` so that a fleet of agents does not reconnect in lock-step
 * after a server restart.
 *
 * Note that grpc-js also backs off reconnecting the underlying connection
 * (client options `grpc.initial_reconnect_backoff_ms`,
 * `grpc.max_reconnect_backoff_ms`); attempts made while it waits fail fast
 * with UNAVAILABLE and count as failed attempts here. Dead connections
 * (e.g. an expired NAT mapping) are noticed with HTTP/2 keepalive pings,
 * which `TunnelServiceClient` sends by default (see `TUNNEL_CLIENT_KEEPALIVE`).
 */
export interface ReconnectOptions {
  /** Delay before the first retry, in ms (default 100). */
  initialBackoffMs?: number;
  /** Upper bound of the delay, in ms (default 30 000, or `initialBackoffMs` if that is larger). */
  maxBackoffMs?: number;
  /** Growth factor per failed attempt (default 1.6, as gRPC's connection backoff); at least 1. */
  multiplier?: number;
  /** Random spread as a fraction of the delay, 0 to 1 (default 0.2: ±20%). */
  jitter?: number;
  /**
   * A tunnel that stayed open at least this long, in ms, was healthy: the
   * next delay starts again from `initialBackoffMs` (default 5 000). One that
   * ends sooner — e.g. a server that accepts tunnels and drops them at once —
   * counts as a failed attempt, so it is not retried in a tight loop.
   */
  healthyAfterMs?: number;
  /** Called each time a tunnel is open and serving. */
  onConnect?: (tunnel: ReverseTunnel) => void;
  /**
   * Called each time a tunnel ended or could not be opened, with what
   * `serve` would report for it — `result.started` tells the two apart:
   * true when the tunnel had connected (and then dropped or was closed),
   * false when this attempt never connected (unreachable, refused) — and
   * the planned retry (undefined when the loop is ending because the signal
   * aborted or the server stopped). To give up, e.g. on UNIMPLEMENTED or
   * UNAUTHENTICATED, abort the signal from here: no further attempt is made.
   */
  onDisconnect?: (result: ServeResult, retry: RetryPlan | undefined) => void;
}

/** When the next attempt to open a reverse tunnel happens. */
export interface RetryPlan {
  /** Wait before the next attempt, jitter included, in whole milliseconds. */
  delayMs: number;
  /** Attempts in a row that failed (0 after a healthy tunnel). */
  consecutiveFailures: number;
}

export type ResolvedReconnectOptions = Required<Omit<ReconnectOptions, "onConnect" | "onDisconnect">> &
  Pick<ReconnectOptions, "onConnect" | "onDisconnect">;

/** Applies the defaults and checks the values; throws RangeError on nonsense. */
export function resolveReconnectOptions(options: ReconnectOptions): ResolvedReconnectOptions {
  const initialBackoffMs = options.initialBackoffMs ?? 100;
  const resolved = {
    initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs ?? Math.max(30_000, initialBackoffMs),
    multiplier: options.multiplier ?? 1.6,
    jitter: options.jitter ?? 0.2,
    healthyAfterMs: options.healthyAfterMs ?? 5_000,
    onConnect: options.onConnect,
    onDisconnect: options.onDisconnect,
  };
  const check = (ok: boolean, what: string) => {
    if (!ok) {
      throw new RangeError(`ReconnectOptions: ${what}`);
    }
  };
  const finite = (n: number) => Number.isFinite(n) && n >= 0;
  check(finite(resolved.initialBackoffMs), `initialBackoffMs must be a finite number >= 0 (got ${resolved.initialBackoffMs})`);
  check(
    finite(resolved.maxBackoffMs) && resolved.maxBackoffMs >= resolved.initialBackoffMs,
    `maxBackoffMs must be finite and >= initialBackoffMs (got ${resolved.maxBackoffMs})`,
  );
  check(Number.isFinite(resolved.multiplier) && resolved.multiplier >= 1, `multiplier must be >= 1 (got ${resolved.multiplier})`);
  check(finite(resolved.jitter) && resolved.jitter <= 1, `jitter must be between 0 and 1 (got ${resolved.jitter})`);
  check(finite(resolved.healthyAfterMs), `healthyAfterMs must be a finite number >= 0 (got ${resolved.healthyAfterMs})`);
  return resolved;
}

/** `delay` spread uniformly over ±`jitter` of itself (`random` in [0, 1)), in whole milliseconds. */
export function jittered(delay: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(delay * (1 + jitter * (random() * 2 - 1))));
}

/**
 * Runs `serveOnce` again and again until `stop` aborts (at least once).
 * The backoff grows with every failed attempt and resets after a healthy
 * tunnel. Resolves with the last result.
 */
export async function serveWithReconnect(
  serveOnce: (onOpen: (tunnel: ReverseTunnel) => void) => Promise<ServeResult>,
  options: ResolvedReconnectOptions,
  stop: AbortSignal,
  random: () => number = Math.random,
): Promise<ServeResult> {
  let backoff = options.initialBackoffMs;
  let failures = 0;
  for (;;) {
    let openedAt: number | undefined;
    const result = await serveOnce((tunnel) => {
      openedAt = performance.now();
      callSafely("onConnect", options.onConnect, tunnel);
    });
    const healthy = openedAt !== undefined && performance.now() - openedAt >= options.healthyAfterMs;
    if (healthy) {
      backoff = options.initialBackoffMs;
      failures = 0;
    } else {
      failures++;
    }
    if (stop.aborted) {
      callSafely("onDisconnect", options.onDisconnect, result, undefined);
      return result;
    }
    const delayMs = jittered(backoff, options.jitter, random);
    backoff = Math.min(options.maxBackoffMs, backoff * options.multiplier);
    callSafely("onDisconnect", options.onDisconnect, result, { delayMs, consecutiveFailures: failures });
    try {
      await sleep(delayMs, undefined, { signal: stop });
    } catch {
      return result; // stopped while waiting (or from onDisconnect)
    }
  }
}

/** Runs a user callback; its failure must not take a tunnel or the serve loop down. */
export function callSafely<A extends unknown[]>(name: string, callback: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    callback?.(...args);
  } catch (e) {
    process.emitWarning(`grpctunnel: ReverseTunnelServer ${name} callback threw: ${TunnelError.from(e).rawMessage}`);
  }
}

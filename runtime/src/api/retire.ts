import type { TunnelEnd } from "../ended.js";

/** What ending a tunnel gracefully needs from its engine (either role). */
export interface RetirableTunnel {
  readonly closed: boolean;
  readonly done: Promise<TunnelEnd>;
  whenIdle(): Promise<void>;
  onEnd(listener: () => void): void;
}

/**
 * Ends a tunnel that takes no new calls any more, once its running calls
 * have finished — `whenIdle` calls `end` at once — or when `graceMs` has
 * passed, whichever comes first; `cutShort` ends it then instead. Resolves
 * when the tunnel has ended, however it ended.
 */
export function retire(tunnel: RetirableTunnel, graceMs: number, end: () => void, cutShort: () => void = end): Promise<void> {
  if (tunnel.closed) {
    return Promise.resolve();
  }
  const timer = setTimeout(cutShort, graceMs);
  tunnel.onEnd(() => clearTimeout(timer));
  void tunnel.whenIdle().then(end);
  return tunnel.done.then(() => undefined);
}

import type { TunnelEnd } from "../../ended.js";
import type { TunnelError } from "../../errors.js";

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

/** What `retireAll` ends: an engine of either role. */
export interface EndableTunnel extends RetirableTunnel {
  close(): void;
  abort(error: TunnelError): void;
}

/**
 * Retires every tunnel of `tunnels`: each closes cleanly once its calls
 * have finished, or fails with `over` after `graceMs`. Resolves when all
 * have ended.
 */
export function retireAll(tunnels: Iterable<EndableTunnel>, graceMs: number, over: TunnelError): Promise<void> {
  const ending = [...tunnels].map((tunnel) =>
    retire(
      tunnel,
      graceMs,
      () => tunnel.close(),
      () => tunnel.abort(over),
    ),
  );
  return Promise.all(ending).then(() => undefined);
}

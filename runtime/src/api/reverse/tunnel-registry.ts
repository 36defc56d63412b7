import type { TunnelChannel } from "../tunnels/index.js";

/**
 * Where the reverse tunnels of a TunnelServiceHandler are kept, by affinity
 * key. A small interface on purpose: a directory shared by several server
 * replicas can implement it later without touching the engines.
 *
 * A registered tunnel is *usable* while it is neither closed nor draining;
 * `pick`, `list` and `waitFor` only ever consider usable tunnels.
 */
export interface ReverseTunnelRegistry<K> {
  /** A tunnel is open and negotiated: from now on calls may pick it. */
  add(tunnel: TunnelChannel, key: K): void;
  /**
   * A registered tunnel started draining (`tunnel.draining` is now true:
   * the handler is draining, the tunnel was replaced, or its agent refused
   * a call while stopping): it takes no new calls but stays registered until
   * `remove`. The hook for a registry shared by several replicas to withdraw
   * the key at once when no other usable tunnel has it.
   */
  markDraining(tunnel: TunnelChannel): void;
  /** Removes a tunnel that ended; unknown tunnels are ignored. */
  remove(tunnel: TunnelChannel): void;
  /** The next usable tunnel round-robin: over all tunnels, or over those with `key`. */
  pick(selector: TunnelSelector<K>): TunnelChannel | undefined;
  /** The usable tunnels a selector matches, oldest first. */
  list(selector: TunnelSelector<K>): TunnelChannel[];
  /**
   * Resolves when a usable tunnel matching `selector` is present (at once if
   * one is): while a key has only draining tunnels, callers keep waiting.
   */
  waitFor(selector: TunnelSelector<K>, signal?: AbortSignal): Promise<void>;
}

/** Whether a registered tunnel may take new calls. */
export function isUsable(tunnel: TunnelChannel): boolean {
  return !tunnel.closed && !tunnel.draining;
}

/** Which reverse tunnels a channel may use: all of them, or those with one key. */
export type TunnelSelector<K> =
  | {
      /** Every reverse tunnel. */
      all: true;
    }
  | {
      /** Only the tunnels with `key`. */
      all: false;
      /** The affinity key to match. */
      key: K;
    };

/** Round-robin over a changing set of tunnels. */
class RoundRobin {
  private readonly tunnels: TunnelChannel[] = [];
  private next = 0;

  get size(): number {
    return this.tunnels.length;
  }

  add(tunnel: TunnelChannel): void {
    this.tunnels.push(tunnel);
  }

  remove(tunnel: TunnelChannel): void {
    const index = this.tunnels.indexOf(tunnel);
    if (index < 0) {
      return;
    }
    this.tunnels.splice(index, 1);
    if (index < this.next) {
      this.next--;
    }
  }

  pick(): TunnelChannel | undefined {
    // Skips draining tunnels, and those that ended but whose removal has not run yet.
    for (let tried = 0; tried < this.tunnels.length; tried++) {
      if (this.next >= this.tunnels.length) {
        this.next = 0;
      }
      const tunnel = this.tunnels[this.next++];
      if (isUsable(tunnel)) {
        return tunnel;
      }
    }
    return undefined;
  }

  list(): TunnelChannel[] {
    return this.tunnels.filter(isUsable);
  }
}

/**
 * The in-process registry: keys are compared like Map keys (by value for
 * strings, numbers, bigints and booleans; by identity for objects).
 */
export class LocalReverseTunnelRegistry<K> implements ReverseTunnelRegistry<K> {
  private readonly all = new RoundRobin();
  private readonly byKey = new Map<K, RoundRobin>();
  private readonly keys = new Map<TunnelChannel, K>();
  private waiters: Array<{ selector: TunnelSelector<K>; wake: () => void }> = [];

  add(tunnel: TunnelChannel, key: K): void {
    if (this.keys.has(tunnel)) {
      return;
    }
    this.keys.set(tunnel, key);
    this.all.add(tunnel);
    let group = this.byKey.get(key);
    if (group === undefined) {
      group = new RoundRobin();
      this.byKey.set(key, group);
    }
    group.add(tunnel);
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (this.list(waiter.selector).length > 0) {
        waiter.wake();
      } else {
        this.waiters.push(waiter);
      }
    }
  }

  markDraining(_tunnel: TunnelChannel): void {
    // Nothing to record: pick and list check `tunnel.draining` themselves.
  }

  remove(tunnel: TunnelChannel): void {
    if (!this.keys.has(tunnel)) {
      return;
    }
    const key = this.keys.get(tunnel) as K;
    this.keys.delete(tunnel);
    this.all.remove(tunnel);
    const group = this.byKey.get(key);
    group?.remove(tunnel);
    if (group?.size === 0) {
      this.byKey.delete(key);
    }
  }

  pick(selector: TunnelSelector<K>): TunnelChannel | undefined {
    return this.group(selector)?.pick();
  }

  list(selector: TunnelSelector<K>): TunnelChannel[] {
    return this.group(selector)?.list() ?? [];
  }

  waitFor(selector: TunnelSelector<K>, signal?: AbortSignal): Promise<void> {
    if (this.list(selector).length > 0) {
      return Promise.resolve();
    }
    if (signal?.aborted) {
      return Promise.reject(signal.reason);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        selector,
        wake: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private group(selector: TunnelSelector<K>): RoundRobin | undefined {
    return selector.all ? this.all : this.byKey.get(selector.key);
  }
}

import type { AffinityRoute } from "./directory/index.js";

/** Keys whose routes are kept at most; the oldest go first beyond it. */
const MAX_ENTRIES = 10_000;

interface Entry {
  routes: readonly AffinityRoute[];
  expiresAt: number;
}

/**
 * Where keys were found lately, so that a steady stream of calls to a key
 * held elsewhere asks the directory once per `ttlMs`, not once per call. A
 * stale entry costs one refused call at most: a replica that lost the key
 * refuses it before any handler saw it, and the call is routed again on a
 * fresh lookup (the entry is forgotten then, as are the entries naming a
 * replica found unreachable). Only keys found somewhere are kept, so a key
 * that appears is seen at once.
 *
 * Calls that miss while a lookup for their key runs wait for that one: a
 * thousand calls to a cold key make one directory round trip, not a
 * thousand queued on one Redis connection (behind which the last of them
 * ran past the directory's deadline on a busy machine).
 */
export class RouteCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<readonly AffinityRoute[]>>();

  constructor(private readonly ttlMs: number) {}

  get(key: string): readonly AffinityRoute[] | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (entry.expiresAt <= performance.now()) {
      // Stryker disable next-line CallExpression: an expired entry is never returned (get checks expiry each time); set() and the MAX_ENTRIES bound drop it
      this.entries.delete(key);
      return undefined;
    }
    return entry.routes;
  }

  /**
   * The key's routes: cached ones, else from `lookup`, kept as `set` keeps
   * them. A lookup already running for the key is shared (its failure too:
   * each caller handles it as its own, and the next miss looks up again).
   */
  lookup(key: string, lookup: () => Promise<readonly AffinityRoute[]>): Promise<readonly AffinityRoute[]> {
    const cached = this.get(key);
    if (cached !== undefined) {
      return Promise.resolve(cached);
    }
    let running = this.pending.get(key);
    if (running === undefined) {
      running = lookup().then(
        (routes) => {
          this.pending.delete(key);
          this.set(key, routes);
          return routes;
        },
        (error: unknown) => {
          this.pending.delete(key);
          throw error;
        },
      );
      this.pending.set(key, running);
    }
    return running;
  }

  set(key: string, routes: readonly AffinityRoute[]): void {
    this.entries.delete(key); // re-inserted last: the oldest entries are first
    if (this.ttlMs <= 0 || routes.length === 0) {
      return;
    }
    this.entries.set(key, { routes, expiresAt: performance.now() + this.ttlMs });
    if (this.entries.size > MAX_ENTRIES) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every entry naming `replicaId`. */
  forgetReplica(replicaId: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.routes.some((route) => route.replicaId === replicaId)) {
        this.entries.delete(key);
      }
    }
  }
}

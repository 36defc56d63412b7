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
 */
export class RouteCache {
  private readonly entries = new Map<string, Entry>();

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

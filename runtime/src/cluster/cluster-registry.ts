import type { ReverseTunnelRegistry, TunnelSelector } from "../api/reverse/index.js";
import type { TunnelChannel } from "../api/tunnels/index.js";
import type { AffinityDirectory } from "./directory/index.js";

/**
 * A replica's reverse tunnels: the handler's own registry, with every key
 * published in the cluster's directory while this replica has a usable
 * (open, not draining) tunnel for it — registered when the first one is
 * added, unregistered the moment the last one drains or ends. Once the
 * replica shuts down, its keys are withdrawn at once and never published
 * again, while its tunnels finish their calls.
 */
export class ClusterRegistry implements ReverseTunnelRegistry<string> {
  private readonly keys = new Map<TunnelChannel, string>();
  private readonly published = new Set<string>();
  private withdrawn = false;

  constructor(
    private readonly local: ReverseTunnelRegistry<string>,
    private readonly directory: AffinityDirectory,
  ) {}

  add(tunnel: TunnelChannel, key: string): void {
    if (typeof key !== "string") {
      throw new TypeError(`affinity keys are strings in cluster mode (got ${typeof key})`);
    }
    this.local.add(tunnel, key);
    this.keys.set(tunnel, key);
    this.update(key);
  }

  markDraining(tunnel: TunnelChannel): void {
    this.local.markDraining(tunnel);
    const key = this.keys.get(tunnel);
    if (key !== undefined) {
      this.update(key);
    }
  }

  remove(tunnel: TunnelChannel): void {
    this.local.remove(tunnel);
    const key = this.keys.get(tunnel);
    if (key !== undefined) {
      this.keys.delete(tunnel);
      this.update(key);
    }
  }

  pick(selector: TunnelSelector<string>): TunnelChannel | undefined {
    return this.local.pick(selector);
  }

  list(selector: TunnelSelector<string>): TunnelChannel[] {
    return this.local.list(selector);
  }

  waitFor(selector: TunnelSelector<string>, signal?: AbortSignal): Promise<void> {
    return this.local.waitFor(selector, signal);
  }

  /** The replica is going away: other replicas must stop routing here now. */
  withdrawAll(): void {
    this.withdrawn = true;
    for (const key of this.published) {
      this.directory.unregister(key);
    }
    this.published.clear();
  }

  /** Publishes or withdraws `key` so that the directory says whether a usable tunnel for it is here. */
  private update(key: string): void {
    const held = !this.withdrawn && this.local.list({ all: false, key }).length > 0;
    if (held && !this.published.has(key)) {
      this.published.add(key);
      this.directory.register(key);
    } else if (!held && this.published.has(key)) {
      this.published.delete(key);
      this.directory.unregister(key);
    }
  }
}

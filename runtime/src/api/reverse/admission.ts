import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import type { TunnelClientEngine } from "../../engine/client-engine.js";
import { retire } from "../tunnels/index.js";
import type { ReverseTunnelRegistry } from "./tunnel-registry.js";
import type { ManagedTunnelChannel, TunnelChannel } from "../tunnels/index.js";

/** What happens when one more reverse tunnel arrives for a key at `maxReverseTunnelsPerKey`. */
export type ReverseTunnelConflictPolicy = "refuse-new" | "replace-oldest";

export interface ReverseTunnelsOptions<K> {
  registry: ReverseTunnelRegistry<K>;
  /** At most this many usable tunnels per key; undefined: unlimited. */
  maxPerKey: number | undefined;
  conflictPolicy: ReverseTunnelConflictPolicy;
  replacedGraceMs: number;
  onOpen: ((tunnel: TunnelChannel) => void) | undefined;
  onClose: ((tunnel: TunnelChannel) => void) | undefined;
}

/** One reverse tunnel, from the moment its RPC arrived. */
interface ReverseRecord<K> {
  tunnel: ManagedTunnelChannel;
  engine: TunnelClientEngine;
  key: K;
  /** In the registry (negotiated, admitted): calls may use it. */
  registered: boolean;
}

/**
 * The reverse tunnels of one TunnelServiceHandler, from arrival to end: the
 * per-key limit and its conflict policy, registration (and removal) in the
 * registry, draining, replacing and revoking.
 */
export class ReverseTunnels<K> {
  /** Open now, registered or still negotiating, in the order they arrived. */
  private readonly records = new Map<TunnelChannel, ReverseRecord<K>>();

  constructor(private readonly options: ReverseTunnelsOptions<K>) {}

  /** The refusal of a newcomer for `key` at arrival, if the policy refuses it. */
  admissionError(key: K): TunnelError | undefined {
    if (this.options.conflictPolicy !== "refuse-new") {
      return undefined; // replace-oldest decides when the newcomer is ready
    }
    const conflict = this.conflicts(key);
    return conflict instanceof TunnelError ? conflict : undefined;
  }

  /** Tracks a tunnel that arrived (not registered yet); it leaves the moment it ends. */
  arrived(tunnel: ManagedTunnelChannel, engine: TunnelClientEngine, key: K): void {
    const record: ReverseRecord<K> = { tunnel, engine, key, registered: false };
    this.records.set(tunnel, record);
    // Runs synchronously as the tunnel ends: no later call can pick it.
    engine.onEnd(() => this.forget(record));
  }

  /** The tunnel negotiated: registers it (replacing or refusing per the policy) unless it ended. */
  register(tunnel: TunnelChannel): void {
    const record = this.records.get(tunnel);
    if (record === undefined || record.engine.closed) {
      return;
    }
    const { registry } = this.options;
    // Checked again: tunnels with the same key may have negotiated meanwhile.
    const replaced = this.conflicts(record.key);
    if (replaced instanceof TunnelError) {
      record.engine.abort(replaced);
      return;
    }
    try {
      registry.add(tunnel, record.key);
    } catch (e) {
      process.emitWarning(`grpctunnel: reverse tunnel registry refused a tunnel: ${TunnelError.from(e).rawMessage}`);
      record.engine.abort(new TunnelError(Code.INTERNAL, "could not register the reverse tunnel"));
      return;
    }
    record.registered = true;
    record.tunnel.onDraining(() => registry.markDraining(tunnel));
    for (const old of replaced) {
      this.replace(old);
    }
    record.engine.announceOpen();
    notify(this.options.onOpen, tunnel);
  }

  /** Every tunnel stops taking new calls (running ones go on). */
  drainAll(reason: TunnelError): void {
    for (const { tunnel } of this.records.values()) {
      tunnel.drain(reason);
    }
  }

  /** Registered tunnels, oldest first, draining ones included. */
  registered(): TunnelChannel[] {
    const open: TunnelChannel[] = [];
    for (const record of this.records.values()) {
      if (record.registered) {
        open.push(record.tunnel);
      }
    }
    return open;
  }

  /**
   * The keys of the usable registered tunnels, each once (at its oldest
   * usable tunnel), produced as iterated: nothing is copied, tunnels that
   * arrive or end meanwhile are seen or skipped as a Map iteration does.
   */
  *usableKeys(): Generator<K> {
    for (const [tunnel, record] of this.records) {
      if (record.registered && this.options.registry.list({ all: false, key: record.key })[0] === tunnel) {
        yield record.key;
      }
    }
  }

  /** Ends every tunnel with `key` now (see TunnelServiceHandler.closeReverseTunnels). */
  close(key: K, status: TunnelError | undefined): number {
    let ended = 0;
    for (const record of [...this.records.values()]) {
      if (sameKey(record.key, key)) {
        ended++;
        if (status === undefined) {
          record.engine.close();
        } else {
          record.engine.abort(status);
        }
      }
    }
    return ended;
  }

  /**
   * Moves a registered, usable tunnel away (rebalancing): no new calls from
   * now on (its key is withdrawn in cluster mode if it was the last), its
   * running calls get `graceMs` to finish, then it ends cleanly so its agent
   * reconnects — through its balancer, to any replica. False when the
   * tunnel is not registered here or already draining.
   */
  shed(tunnel: TunnelChannel, graceMs: number): boolean {
    const record = this.records.get(tunnel);
    if (record === undefined || !record.registered || record.engine.closed || tunnel.draining) {
      return false;
    }
    const reason = new TunnelError(Code.UNAVAILABLE, "reverse tunnel moved to another replica (rebalancing)");
    record.tunnel.drain(reason);
    void retire(
      record.engine,
      graceMs,
      () => record.engine.close(),
      () => record.engine.abort(reason),
    );
    return true;
  }

  /**
   * What one more tunnel for `key` means under the per-key limit: nothing
   * (an empty list), the key's oldest tunnels to replace, or the refusal.
   */
  private conflicts(key: K): ReverseRecord<K>[] | TunnelError {
    const limit = this.options.maxPerKey;
    if (limit === undefined) {
      return [];
    }
    const usable = this.options.registry.list({ all: false, key });
    if (usable.length < limit) {
      return [];
    }
    if (this.options.conflictPolicy === "refuse-new") {
      return new TunnelError(Code.RESOURCE_EXHAUSTED, `too many reverse tunnels for this affinity key (limit ${limit})`);
    }
    return usable.slice(0, usable.length - limit + 1).flatMap((tunnel) => this.records.get(tunnel) ?? []);
  }

  /** Retires a tunnel a newer one of its key displaced: no new calls, running ones get a grace period. */
  private replace(record: ReverseRecord<K>): void {
    const reason = new TunnelError(Code.ABORTED, "replaced by a newer reverse tunnel for the same affinity key");
    record.tunnel.drain(reason);
    void retire(record.engine, this.options.replacedGraceMs, () => record.engine.abort(reason));
  }

  private forget(record: ReverseRecord<K>): void {
    this.records.delete(record.tunnel);
    if (record.registered) {
      this.options.registry.remove(record.tunnel);
      notify(this.options.onClose, record.tunnel);
    }
  }
}

/** Map-key equality (SameValueZero), as the in-process registry compares keys. */
function sameKey(a: unknown, b: unknown): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** Runs a user callback; its failure must not take the tunnel or server down. */
function notify(callback: ((tunnel: TunnelChannel) => void) | undefined, tunnel: TunnelChannel): void {
  try {
    callback?.(tunnel);
  } catch (e) {
    process.emitWarning(`grpctunnel: reverse tunnel callback threw: ${TunnelError.from(e).rawMessage}`);
  }
}

import { createHash } from "node:crypto";
import { ErrorReply } from "redis";
import type { AffinityRoute } from "./affinity-directory.js";
import type { RedisClient } from "./redis-connection.js";

/*
 * The data model, for namespace N:
 *
 *   N:replica:<replica id>  string = the replica's relay address, expiring
 *                           (PXAT) at the end of its lease
 *   N:key:<affinity key>    sorted set: member = replica id, score = the
 *                           Redis-clock millisecond at which that replica's
 *                           lease on the key ends; the whole key expires
 *                           (PEXPIREAT) with its last lease
 *   N:registered:<key>      pub/sub channel, a message per new (replica, key)
 *                           entry, for waitFor()
 *   N:load                  hash: replica id -> "tunnels|lease end", each
 *                           replica's reverse tunnel count for rebalancing
 *                           (replica-load.ts); only with `rebalance`
 *
 * Why a sorted set per key with expiry scores: several replicas may hold the
 * same key, each with its own lease, and Redis 7.0 cannot expire hash fields
 * or set members (no HEXPIRE). Scores give per-member leases; a lookup reads
 * only unexpired members and joins their replica records, in one Lua script,
 * so a lookup is one round trip. Every write prunes expired members of the
 * keys it touches and moves the key's own expiry to its last lease, so a dead
 * replica's entries really leave Redis: a key nobody else holds expires with
 * the lease, a shared one loses the member at the next refresh of a live
 * holder (within lease + refresh interval). All times come from Redis's
 * clock (TIME), so replicas' clocks may disagree.
 *
 * Scripts touch replica records they find through the sorted set, so this
 * layout needs one Redis primary (plain, replicated or Sentinel-managed), not
 * Redis Cluster.
 */
export class DirectoryLayout {
  readonly replicaPrefix: string;
  readonly keyPrefix: string;
  /** The hash of replicas' tunnel counts (rebalancing). */
  readonly load: string;
  private readonly channelPrefix: string;

  constructor(namespace: string) {
    this.replicaPrefix = `${namespace}:replica:`;
    this.keyPrefix = `${namespace}:key:`;
    this.channelPrefix = `${namespace}:registered:`;
    this.load = `${namespace}:load`;
  }

  replica(replicaId: string): string {
    return this.replicaPrefix + replicaId;
  }

  entry(key: string): string {
    return this.keyPrefix + key;
  }

  channel(key: string): string {
    return this.channelPrefix + key;
  }
}

/** A Lua script run by hash, sent in full only when Redis does not know it (e.g. after a restart). */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await client.sendCommand(["EVALSHA", this.sha, ...rest]);
    } catch (error) {
      if (error instanceof ErrorReply && error.message.startsWith("NOSCRIPT")) {
        return client.sendCommand(["EVAL", this.source, ...rest]);
      }
      throw error;
    }
  }
}

export const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * KEYS[1] = the replica record, KEYS[2..] = entries; ARGV[1] = replica id,
 * ARGV[2] = address, ARGV[3] = lease ms, ARGV[4] = wake message,
 * ARGV[5..] = the wake channel of each entry. Re-writes everything (so it
 * restores what a Redis restart lost) and announces only entries that were
 * not there.
 */
const ASSERT = new LuaScript(`${NOW}
local expires = now + tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', expires)
for i = 2, #KEYS do
  local added = redis.call('ZADD', KEYS[i], expires, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[i], last[2])
  if added == 1 then
    redis.call('PUBLISH', ARGV[i + 3], ARGV[4])
  end
end
return #KEYS - 1
`);

/** KEYS[1] = an entry; ARGV[1] = the replica record prefix. Returns id, address, id, address, … */
const LOOKUP = new LuaScript(`${NOW}
local ids = redis.call('ZRANGE', KEYS[1], '(' .. now, '+inf', 'BYSCORE')
local routes = {}
for _, id in ipairs(ids) do
  local address = redis.call('GET', ARGV[1] .. id)
  if address then
    routes[#routes + 1] = id
    routes[#routes + 1] = address
  end
end
return routes
`);

/** KEYS[1] = the replica record, KEYS[2..] = entries; ARGV[1] = replica id, ARGV[2] = '1' to delete the record. */
const WITHDRAW = new LuaScript(`
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return #KEYS - 1
`);

/** Keys per script call: bounds the time one call blocks Redis. */
export const BATCH = 500;

/** This replica's view of the layout: the commands it sends. */
export class ReplicaCommands {
  private readonly record: string;
  private readonly wakeMessage: string;

  constructor(
    private readonly layout: DirectoryLayout,
    private readonly replicaId: string,
    private readonly address: string,
    private readonly leaseMs: number,
  ) {
    this.record = layout.replica(replicaId);
    this.wakeMessage = JSON.stringify({ replicaId, address } satisfies AffinityRoute);
  }

  /** Writes (or re-writes) the replica record and up to BATCH entries with a fresh lease. */
  assert(client: RedisClient, keys: readonly string[]): Promise<unknown> {
    return ASSERT.run(
      client,
      [this.record, ...keys.map((key) => this.layout.entry(key))],
      [this.replicaId, this.address, String(this.leaseMs), this.wakeMessage, ...keys.map((key) => this.layout.channel(key))],
    );
  }

  /** Removes up to BATCH entries of this replica, and its record too with `record`. */
  withdraw(client: RedisClient, keys: readonly string[], record: boolean): Promise<unknown> {
    const entries = keys.map((key) => this.layout.entry(key));
    return WITHDRAW.run(client, [this.record, ...entries], [this.replicaId, record ? "1" : "0"]);
  }

  async lookup(client: RedisClient, key: string): Promise<AffinityRoute[]> {
    const reply = await LOOKUP.run(client, [this.layout.entry(key)], [this.layout.replicaPrefix]);
    // Stryker disable all: unreachable: the lookup script always replies id, address, id, address, ...
    if (!Array.isArray(reply) || reply.length % 2 !== 0) {
      throw new Error("unexpected reply to the lookup script");
    }
    // Stryker restore all
    const routes: AffinityRoute[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      routes.push({ replicaId: String(reply[i]), address: String(reply[i + 1]) });
    }
    return routes;
  }
}

/** The route in a wake message, or undefined if it is not one. */
export function parseWakeMessage(message: string): AffinityRoute | undefined {
  try {
    const value: unknown = JSON.parse(message);
    if (typeof value === "object" && value !== null) {
      const { replicaId, address } = value as Record<string, unknown>;
      if (typeof replicaId === "string" && typeof address === "string") {
        return { replicaId, address };
      }
    }
  } catch {
    // not ours: ignored
  }
  return undefined;
}

/** `items` in slices of at most BATCH. */
export function batches<T>(items: readonly T[]): T[][] {
  const slices: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) {
    slices.push(items.slice(i, i + BATCH));
  }
  return slices;
}

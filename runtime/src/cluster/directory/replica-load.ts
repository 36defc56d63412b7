import type { RedisClient } from "./redis-connection.js";
import { LuaScript, NOW } from "./redis-layout.js";

/** One replica's reverse tunnel count, as it last reported it. */
export interface ReplicaLoad {
  /** The replica's id. */
  readonly replicaId: string;
  /** Usable reverse tunnels the replica holds. */
  readonly tunnels: number;
}

/*
 * KEYS[1] = N:load (hash: replica id -> "tunnels|lease end"); ARGV[1] =
 * replica id, ARGV[2] = its tunnel count ('-1' withdraws it), ARGV[3] =
 * lease ms. Writes this replica's report, prunes reports whose lease ended
 * (replicas that died), keeps the hash itself alive while anyone reports,
 * and returns id, count, id, count, ... of the live reports.
 */
const REPORT = new LuaScript(`${NOW}
local lease = tonumber(ARGV[3])
if ARGV[2] == '-1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. (now + lease))
end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local count, ends = string.match(all[i + 1], '^(%d+)|(%d+)$')
  if ends ~= nil and tonumber(ends) > now then
    out[#out + 1] = all[i]
    out[#out + 1] = count
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if #out > 0 then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return out
`);

/** Reports `tunnels` for `replicaId` (undefined: withdraws its report) and returns every live report. */
export async function reportLoad(
  client: RedisClient,
  loadKey: string,
  replicaId: string,
  tunnels: number | undefined,
  leaseMs: number,
): Promise<ReplicaLoad[]> {
  const count = tunnels === undefined ? "-1" : String(Math.max(0, Math.floor(tunnels)));
  const reply = await REPORT.run(client, [loadKey], [replicaId, count, String(leaseMs)]);
  // Stryker disable all: unreachable: the report script always replies id, count, id, count, ...
  if (!Array.isArray(reply) || reply.length % 2 !== 0) {
    throw new Error("unexpected reply to the load report script");
  }
  // Stryker restore all
  const loads: ReplicaLoad[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    loads.push({ replicaId: String(reply[i]), tunnels: Number(reply[i + 1]) });
  }
  return loads;
}

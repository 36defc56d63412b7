import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import type { KeyListPage, ListKeysRequest } from "./affinity-directory.js";
import type { RedisClient } from "./redis-connection.js";
import { LuaScript, NOW } from "./redis-layout.js";

/** Keys per page by default, and at most. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1_000;
/** SCAN steps one page may take at most: bounds the time one call blocks Redis when few keys match. */
const MAX_SCAN_STEPS = 8;

/*
 * A page of the cluster-wide key listing, in one script call: SCAN over the
 * namespace's entries (MATCH N:key:<prefix>*, COUNT limit), keeping those
 * with an unexpired lease, until `limit` keys or MAX_SCAN_STEPS steps. SCAN
 * may return more than COUNT at once; then the page takes the first keys of
 * the step in sorted order, and the cursor says "this SCAN cursor again,
 * after this key". SCAN visits the same buckets for the same cursor (more
 * of them if the table grew meanwhile), so no key present for the whole
 * listing is missed; like SCAN, a key may be listed twice if the keyspace
 * is resized while listing, and keys added or removed meanwhile may or may
 * not be listed.
 *
 * ARGV: scan cursor, match pattern, limit, after ('' for none), key prefix
 * length, steps. Returns { next scan cursor, after, key, ids, key, ids, ... }.
 */
const LIST = new LuaScript(`${NOW}
local cursor = ARGV[1]
local limit = tonumber(ARGV[3])
local after = ARGV[4]
local strip = tonumber(ARGV[5])
local out = {}
local taken = 0
for step = 1, tonumber(ARGV[6]) do
  local reply = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', limit)
  local batch = reply[2]
  table.sort(batch)
  local live = {}
  for _, key in ipairs(batch) do
    if after == '' or key > after then
      local ids = redis.pcall('ZRANGE', key, '(' .. now, '+inf', 'BYSCORE')
      if type(ids) == 'table' and #ids > 0 then
        live[#live + 1] = { key, ids }
      end
    end
  end
  local room = limit - taken
  for i = 1, math.min(room, #live) do
    out[#out + 1] = string.sub(live[i][1], strip + 1)
    out[#out + 1] = live[i][2]
  end
  if #live > room then
    return { cursor, live[room][1], out }
  end
  taken = taken + #live
  cursor = reply[1]
  after = ''
  if cursor == '0' or taken == limit then
    break
  end
end
return { cursor, after, out }
`);

/** A checked listing request, ready to run. */
export interface ListingQuery {
  readonly keyPrefix: string;
  readonly args: readonly string[];
}

/**
 * Checks a request (RangeError, TypeError; INVALID_ARGUMENT for a cursor
 * that is not one) for a listing of keys under `keyPrefix`, the namespace's
 * entry prefix.
 */
export function listingQuery(keyPrefix: string, request: ListKeysRequest): ListingQuery {
  const limit = request.limit ?? DEFAULT_LIST_LIMIT;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIST_LIMIT)) {
    throw new RangeError(`listKeys: limit must be a whole number from 1 to ${MAX_LIST_LIMIT} (got ${limit})`);
  }
  const prefix = request.prefix ?? "";
  if (typeof prefix !== "string") {
    throw new TypeError("listKeys: prefix must be a string");
  }
  const { scan, after } = parseCursor(request.cursor);
  const pattern = `${escapeGlob(keyPrefix + prefix)}*`;
  const args = [scan, pattern, String(limit), after === "" ? "" : keyPrefix + after, String(byteLength(keyPrefix)), String(MAX_SCAN_STEPS)];
  return { keyPrefix, args };
}

/** Reads one page. */
export async function listPage(client: RedisClient, query: ListingQuery): Promise<KeyListPage> {
  return toPage(await LIST.run(client, [], query.args), query.keyPrefix);
}

function toPage(reply: unknown, keyPrefix: string): KeyListPage {
  // Stryker disable all: unreachable: the listing script always replies { cursor, after, keys and ids }
  if (!Array.isArray(reply) || reply.length !== 3 || !Array.isArray(reply[2])) {
    throw new Error("unexpected reply to the listing script");
  }
  // Stryker restore all
  const [scan, afterKey, flat] = reply as [unknown, unknown, unknown[]];
  const page: KeyListPage = { keys: [], replicaIds: [] };
  for (let i = 0; i < flat.length; i += 2) {
    page.keys.push(String(flat[i]));
    page.replicaIds.push((flat[i + 1] as unknown[]).map(String));
  }
  const after = String(afterKey);
  if (String(scan) !== "0" || after !== "") {
    page.cursor = formatCursor(String(scan), after === "" ? "" : after.slice(keyPrefix.length));
  }
  return page;
}

/** The cursor: the SCAN cursor, and the last key taken from a step that did not fit the page (base64url). */
function formatCursor(scan: string, after: string): string {
  return after === "" ? scan : `${scan}.${Buffer.from(after, "utf8").toString("base64url")}`;
}

function parseCursor(cursor: string | undefined): { scan: string; after: string } {
  if (cursor === undefined || cursor === "") {
    return { scan: "0", after: "" };
  }
  const match = typeof cursor === "string" ? /^(\d{1,20})(?:\.([A-Za-z0-9_-]+))?$/.exec(cursor) : null;
  if (match === null) {
    throw new TunnelError(Code.INVALID_ARGUMENT, "listKeys: not a cursor this listing returned");
  }
  return { scan: match[1], after: match[2] === undefined ? "" : Buffer.from(match[2], "base64url").toString("utf8") };
}

/** `text` as a SCAN MATCH pattern matching itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Which affinity keys a listing is about: all, or those (strings) with a prefix. */
export interface KeyFilter {
  /** Only string keys that start with it. */
  prefix?: string;
}

/**
 * Where fan-out finds the keys of the agents it calls: a stream, so that a
 * fleet of any size is never held in memory at once. A TunnelServiceHandler
 * is one (its own reverse tunnels, or in cluster mode the cluster's).
 */
export interface AgentKeySource<K> {
  /** The keys of the agents reachable now that match `filter`, each once, as they are found. */
  agentKeys(filter?: KeyFilter): AsyncIterable<K>;
}

/** One page of a paged key listing (e.g. a cluster directory's). */
export interface KeyPage<K> {
  /** The keys of this page. */
  keys: K[];
  /** Where the next page starts; undefined on the last page. */
  cursor?: string;
}

/** What a paged key listing is asked for. */
export interface KeyPageRequest extends KeyFilter {
  /** Where to go on (a previous page's cursor); undefined for the first page. */
  cursor?: string;
  /** At most this many keys. */
  limit: number;
}

/**
 * The keys of a paged listing as a stream: one page is held at a time, the
 * next asked for once it has been consumed.
 */
export async function* pagedKeys<K>(
  listKeys: (request: KeyPageRequest) => Promise<KeyPage<K>>,
  filter: KeyFilter = {},
  pageSize = 500,
): AsyncGenerator<K> {
  let cursor: string | undefined;
  do {
    const page = await listKeys({ ...filter, cursor, limit: pageSize });
    yield* page.keys;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** The keys of `keys` that `filter` matches, in order, as they come. */
export async function* filteredKeys<K>(keys: Iterable<K> | AsyncIterable<K>, filter: KeyFilter = {}): AsyncGenerator<K> {
  const { prefix } = filter;
  for await (const key of keys) {
    if (prefix === undefined || (typeof key === "string" && key.startsWith(prefix))) {
      yield key;
    }
  }
}

import type { TunnelInfo } from "../diagnostics/events.js";
import type { Formatted, SafeFormatters } from "./formatters.js";

/** What a status page shows: anything that lists its tunnels (a TunnelServiceHandler, a ReverseTunnelServer). */
export interface TunnelSource {
  /** The tunnels open now. */
  listTunnels(): TunnelInfo[];
}

/** A reverse tunnel and the text of its key. */
export interface KeyedTunnel {
  key: Formatted<string>;
  tunnel: TunnelInfo;
}

/** Reverse tunnels in key order (then by id), and how many distinct keys they have. */
export interface SortedTunnels {
  rows: readonly KeyedTunnel[];
  keys: number;
}

/** The tunnels of a source as a page needs them. */
export interface TunnelView {
  /** Every reverse tunnel. */
  all: SortedTunnels;
  /** The reverse tunnels whose key contains the filter. */
  matching: SortedTunnels;
  /** Forward tunnels, oldest first. */
  forward: readonly TunnelInfo[];
}

/** Filters whose matches are kept at most (one per live page, and a few more). */
const MAX_FILTERS = 32;

/**
 * The tunnels of a source, sorted by key. Sorting a fleet of 100,000 keys
 * costs tens of milliseconds, and refreshes come every second while only
 * the figures change: the order (and each filter's matches) is kept for as
 * long as the same tunnels are open.
 */
export class TunnelIndex {
  private listed: readonly TunnelInfo[] = [];
  private sorted: { all: SortedTunnels; forward: readonly TunnelInfo[] } | undefined;
  private readonly filtered = new Map<string, SortedTunnels>();

  constructor(
    private readonly source: TunnelSource,
    private readonly formatters: SafeFormatters,
  ) {}

  view(filter: string): TunnelView {
    const listed = this.source.listTunnels();
    if (this.sorted === undefined || !sameTunnels(listed, this.listed)) {
      this.listed = [...listed]; // a source may hand out the same array, changed in place
      this.sorted = this.sort(listed);
      this.filtered.clear();
    }
    const { all, forward } = this.sorted;
    if (filter === "") {
      return { all, matching: all, forward };
    }
    let matching = this.filtered.get(filter);
    if (matching === undefined) {
      const rows = all.rows.filter((row) => row.key.value.includes(filter));
      matching = { rows, keys: countKeys(rows) };
      if (this.filtered.size >= MAX_FILTERS) {
        this.filtered.clear();
      }
      this.filtered.set(filter, matching);
    }
    return { all, matching, forward };
  }

  /** Lets go of the tunnels listed last (closed ones among them): kept only while live pages refresh. */
  forget(): void {
    this.listed = [];
    this.sorted = undefined;
    this.filtered.clear();
  }

  private sort(listed: readonly TunnelInfo[]): { all: SortedTunnels; forward: readonly TunnelInfo[] } {
    const rows: KeyedTunnel[] = [];
    const forward: TunnelInfo[] = [];
    for (const tunnel of listed) {
      if (tunnel.direction === "forward") {
        forward.push(tunnel);
      } else {
        rows.push({ key: this.formatters.key(tunnel), tunnel });
      }
    }
    rows.sort(byKeyThenId);
    forward.sort((a, b) => a.id - b.id);
    return { all: { rows, keys: countKeys(rows) }, forward };
  }
}

function sameTunnels(a: readonly TunnelInfo[], b: readonly TunnelInfo[]): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

function byKeyThenId(a: KeyedTunnel, b: KeyedTunnel): number {
  const x = a.key.value;
  const y = b.key.value;
  return x < y ? -1 : x > y ? 1 : a.tunnel.id - b.tunnel.id;
}

/** Distinct keys of rows in key order. */
function countKeys(rows: readonly KeyedTunnel[]): number {
  let keys = 0;
  for (let i = 0; i < rows.length; i++) {
    if (i === 0 || rows[i]!.key.value !== rows[i - 1]!.key.value) {
      keys++;
    }
  }
  return keys;
}

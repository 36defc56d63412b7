import type { TunnelInfo } from "../diagnostics/events.js";
import type { SafeFormatters } from "./formatters.js";
import type { TunnelIndex } from "./tunnel-index.js";

/** One tunnel in `status.json`. */
export interface TunnelStatus {
  /** `TunnelInfo.id`. */
  id: number;
  /** `TunnelInfo.role`. */
  role: "client" | "server";
  /** `TunnelInfo.direction`. */
  direction: "forward" | "reverse";
  /** The network peer of the tunnel RPC. */
  peer: string;
  /** `TunnelInfo.protocolRevision`; null while unknown. */
  protocolRevision: 0 | 1 | null;
  /** ISO 8601. */
  openedAt: string;
  /** Seconds since `openedAt`, when the snapshot was made. */
  ageSeconds: number;
  /** Calls running on the tunnel. */
  activeCalls: number;
  /** Message bytes sent on the tunnel so far. */
  bytesSent: number;
  /** Message bytes received on the tunnel so far. */
  bytesReceived: number;
  /** Only with the `metadata` option. */
  metadata?: Record<string, string>;
  /** Why the `metadata` formatter failed for this tunnel, if it threw. */
  metadataError?: string;
}

/** Which reverse tunnels a page shows: a page of the tunnels whose key contains `filter`, in key order. */
export interface StatusQuery {
  /** From 1; a page past the last shows the last. */
  page: number;
  /** Only keys containing this text; "" for all. */
  filter: string;
}

/**
 * The JSON of a status page (`status.json`): one page of the reverse
 * tunnels (`?page=N`, `&key=text` to show only keys containing text), the
 * first forward tunnels, and the counts of all.
 */
export interface StatusSnapshot {
  /** ISO 8601. */
  generatedAt: string;
  /** This page's reverse tunnels, grouped by affinity key (sorted); a tunnel without a key is under "". */
  reverse: Array<{
    /** The affinity key, as text. */
    key: string;
    /** Why `formatKey` failed for this key, if it threw (`key` is then the default text). */
    keyError?: string;
    /** The key's tunnels on this page. */
    tunnels: TunnelStatus[];
  }>;
  /** The first `page.size` forward tunnels, oldest first. */
  forward: TunnelStatus[];
  /** Reverse tunnels in all. */
  reverseTunnels: number;
  /** Affinity keys in all. */
  reverseKeys: number;
  /** Forward tunnels in all. */
  forwardTunnels: number;
  /** Which page of the reverse tunnels `reverse` is. */
  page: {
    /** From 1. */
    number: number;
    /** Pages of the tunnels that match the filter (at least 1). */
    count: number;
    /** Tunnels per page. */
    size: number;
    /** The filter: keys containing this text ("" for all). */
    filter: string;
    /** Reverse tunnels whose key matches the filter. */
    matchingTunnels: number;
    /** Keys that match the filter. */
    matchingKeys: number;
  };
}

/** One page of the tunnels `index` lists, formatted; only the page's tunnels go through the metadata formatter. */
export function statusSnapshot(
  index: TunnelIndex,
  formatters: SafeFormatters,
  query: StatusQuery,
  pageSize: number,
  now: number = Date.now(),
): StatusSnapshot {
  const { all, matching, forward } = index.view(query.filter);
  const pages = Math.max(1, Math.ceil(matching.rows.length / pageSize));
  const page = Math.min(Math.max(1, Math.floor(query.page)), pages);
  const reverse: StatusSnapshot["reverse"] = [];
  for (const { key, tunnel } of matching.rows.slice((page - 1) * pageSize, page * pageSize)) {
    let group = reverse.at(-1);
    if (group?.key !== key.value) {
      group = { key: key.value, ...(key.error === undefined ? {} : { keyError: key.error }), tunnels: [] };
      reverse.push(group);
    }
    group.tunnels.push(tunnelStatus(tunnel, formatters, now));
  }
  return {
    generatedAt: new Date(now).toISOString(),
    reverse,
    forward: forward.slice(0, pageSize).map((tunnel) => tunnelStatus(tunnel, formatters, now)),
    reverseTunnels: all.rows.length,
    reverseKeys: all.keys,
    forwardTunnels: forward.length,
    page: {
      number: page,
      count: pages,
      size: pageSize,
      filter: query.filter,
      matchingTunnels: matching.rows.length,
      matchingKeys: matching.keys,
    },
  };
}

/** What changed between two snapshots, ignoring the clock: ages and the time of the snapshot. */
export function snapshotSignature(snapshot: StatusSnapshot): string {
  return JSON.stringify(snapshot, (name, value: unknown) => (name === "ageSeconds" || name === "generatedAt" ? undefined : value));
}

function tunnelStatus(tunnel: TunnelInfo, formatters: SafeFormatters, now: number): TunnelStatus {
  const status: TunnelStatus = {
    id: tunnel.id,
    role: tunnel.role,
    direction: tunnel.direction,
    peer: tunnel.peer,
    protocolRevision: tunnel.protocolRevision ?? null,
    openedAt: tunnel.openedAt.toISOString(),
    ageSeconds: Math.max(0, (now - tunnel.openedAt.getTime()) / 1000),
    activeCalls: tunnel.activeCalls,
    bytesSent: tunnel.bytesSent,
    bytesReceived: tunnel.bytesReceived,
  };
  const metadata = formatters.metadata(tunnel);
  if (metadata.value !== undefined) {
    status.metadata = metadata.value;
  }
  if (metadata.error !== undefined) {
    status.metadataError = metadata.error;
  }
  return status;
}

import type { TunnelInfo } from "../diagnostics/events.js";

/** What a status page shows: anything that lists its tunnels (a TunnelServiceHandler, a ReverseTunnelServer). */
export interface TunnelSource {
  /** The tunnels open now. */
  listTunnels(): TunnelInfo[];
}

/** What the page exposes about tunnels beyond keys, peers and figures: nothing unless the operator says. */
export interface SnapshotOptions {
  /** Text of an affinity key; strings as they are, other keys as JSON by default. */
  formatKey?: (key: unknown) => string;
  /**
   * Tunnel metadata to show (e.g. `(t) => ({ agent: String(t.metadata.get("agent-version")[0]) })`).
   * Without it no metadata value leaves the process: they may hold credentials.
   */
  metadata?: (tunnel: TunnelInfo) => Record<string, string> | undefined;
}

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
}

/** The JSON of a status page (`status.json`). */
export interface StatusSnapshot {
  /** ISO 8601. */
  generatedAt: string;
  /** Reverse tunnels grouped by affinity key (sorted); a tunnel without a key is under "". */
  reverse: Array<{
    /** The affinity key, as text. */
    key: string;
    /** The key's tunnels. */
    tunnels: TunnelStatus[];
  }>;
  /** Forward tunnels. */
  forward: TunnelStatus[];
}

export function statusSnapshot(source: TunnelSource, options: SnapshotOptions, now: number = Date.now()): StatusSnapshot {
  const formatKey = options.formatKey ?? keyText;
  const byKey = new Map<string, TunnelStatus[]>();
  const forward: TunnelStatus[] = [];
  for (const tunnel of source.listTunnels()) {
    const status = tunnelStatus(tunnel, options, now);
    if (tunnel.direction === "forward") {
      forward.push(status);
      continue;
    }
    const key = tunnel.affinityKey === undefined ? "" : formatKey(tunnel.affinityKey);
    let group = byKey.get(key);
    if (group === undefined) {
      group = [];
      byKey.set(key, group);
    }
    group.push(status);
  }
  const reverse = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, tunnels]) => ({ key, tunnels }));
  return { generatedAt: new Date(now).toISOString(), reverse, forward };
}

/** What changed between two snapshots, ignoring the clock: ages and the time of the snapshot. */
export function snapshotSignature(snapshot: StatusSnapshot): string {
  return JSON.stringify(snapshot, (name, value: unknown) => (name === "ageSeconds" || name === "generatedAt" ? undefined : value));
}

function tunnelStatus(tunnel: TunnelInfo, options: SnapshotOptions, now: number): TunnelStatus {
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
  const metadata = options.metadata?.(tunnel);
  if (metadata !== undefined) {
    status.metadata = { ...metadata };
  }
  return status;
}

/** Default key text: strings as they are; numbers, bigints and booleans as written; objects as JSON. */
export function keyText(key: unknown): string {
  switch (typeof key) {
    case "string":
      return key;
    case "object":
      try {
        return JSON.stringify(key) ?? String(key);
      } catch {
        return Object.prototype.toString.call(key);
      }
    default:
      return String(key);
  }
}

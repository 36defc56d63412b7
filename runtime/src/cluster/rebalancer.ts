import type { ClusterReplica } from "../api/tunnels/index.js";
import type { TunnelChannel } from "../api/tunnels/index.js";
import { tunnelsShedChannel } from "../diagnostics/channels.js";
import type { TunnelError } from "../errors.js";
import type { AffinityDirectory, ReplicaLoad } from "./directory/index.js";

/** Options of rebalancing (`joinCluster`'s `rebalance`). */
export interface RebalanceOptions {
  /** How often this replica reports its reverse tunnels and compares with the others, in ms; default 5,000. */
  intervalMs?: number;
  /**
   * Shed tunnels while holding more than the cluster mean × (1 + threshold),
   * down to the mean; default 0.2. A replica above the mean by less than one
   * tunnel sheds nothing.
   */
  threshold?: number;
  /** At most this many tunnels shed per interval, so agents move a few at a time; default 5. */
  maxShedPerInterval?: number;
  /** How long running calls on a shed tunnel may take before they are cut, in ms; default 30,000. */
  graceMs?: number;
}

export type ResolvedRebalanceOptions = Required<RebalanceOptions>;

const DEFAULTS: ResolvedRebalanceOptions = { intervalMs: 5_000, threshold: 0.2, maxShedPerInterval: 5, graceMs: 30_000 };

/** Checks rebalancing options (RangeError) and applies the defaults. */
export function resolveRebalanceOptions(options: RebalanceOptions | true): ResolvedRebalanceOptions {
  const resolved = { ...DEFAULTS, ...(options === true ? {} : options) };
  const { intervalMs, threshold, maxShedPerInterval, graceMs } = resolved;
  if (!(Number.isInteger(intervalMs) && intervalMs > 0)) {
    throw new RangeError("rebalance.intervalMs must be a positive whole number of milliseconds");
  }
  if (!(Number.isFinite(threshold) && threshold >= 0)) {
    throw new RangeError("rebalance.threshold must be a finite number >= 0");
  }
  if (!(Number.isInteger(maxShedPerInterval) && maxShedPerInterval >= 1)) {
    throw new RangeError("rebalance.maxShedPerInterval must be a whole number >= 1");
  }
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new RangeError("rebalance.graceMs must be a finite number >= 0");
  }
  return resolved;
}

function meanTunnels(loads: readonly ReplicaLoad[]): number {
  return loads.reduce((sum, load) => sum + load.tunnels, 0) / loads.length;
}

/** How many tunnels a replica holding `held` sheds now, given every replica's report. */
export function tunnelsToShed(held: number, loads: readonly ReplicaLoad[], options: ResolvedRebalanceOptions): number {
  if (loads.length < 2) {
    return 0;
  }
  const mean = meanTunnels(loads);
  if (held <= mean * (1 + options.threshold)) {
    return 0;
  }
  // Less than one tunnel above the mean (threshold >= 0) leaves held at ceil(mean): nothing to shed.
  return Math.min(options.maxShedPerInterval, held - Math.ceil(mean));
}

/**
 * Opt-in rebalancing of reverse tunnels across replicas: every interval
 * this replica publishes how many usable reverse tunnels it holds, reads
 * everyone's, and when it holds more than the mean by the threshold it
 * sheds a few — the least busy first — gracefully: each takes no new calls,
 * its running calls finish, and it ends cleanly, so its agent reconnects
 * through the balancer (to any replica; the next intervals correct what
 * chance got wrong). Calls for a key whose tunnel is moving wait for it with
 * `waitForReady`. A replica that just joined (say, after a scale-out)
 * fills up this way without waiting for agents to reconnect by themselves.
 */
export class Rebalancer {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Tunnels shed so far. */
  shed = 0;

  constructor(
    private readonly directory: AffinityDirectory,
    private readonly replica: ClusterReplica,
    private readonly options: ResolvedRebalanceOptions,
    private readonly report: (error: TunnelError) => void,
  ) {}

  start(): void {
    // Stryker disable all: unreachable: joinCluster refuses rebalance on a directory without reportLoad
    if (this.directory.reportLoad === undefined) {
      throw new TypeError("rebalance: this cluster's directory cannot report load (reportLoad)");
    }
    // Stryker restore all
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    // Stryker disable next-line CallExpression: unref only lets a process exit while the timer runs; nothing in it can tell
    this.timer.unref();
  }

  /** Stops shedding and withdraws this replica's report (it is leaving). */
  stop(): void {
    if (this.timer === undefined) {
      return;
    }
    clearInterval(this.timer);
    this.timer = undefined;
    this.directory.reportLoad?.(undefined).catch(() => {}); // else it expires with the lease
  }

  /** One round: report, compare, shed. */
  async tick(): Promise<void> {
    if (this.ticking || this.timer === undefined) {
      return;
    }
    this.ticking = true;
    try {
      const usable = this.replica.local.list({ all: true });
      const loads = await this.directory.reportLoad!(usable.length);
      if (this.timer === undefined) {
        return; // stopped meanwhile
      }
      const count = tunnelsToShed(usable.length, loads, this.options);
      let shed = 0;
      for (const tunnel of leastBusy(this.replica.local.list({ all: true }), count)) {
        if (this.replica.shed(tunnel, this.options.graceMs)) {
          shed++;
        }
      }
      this.shed += shed;
      if (shed > 0 && tunnelsShedChannel.hasSubscribers) {
        tunnelsShedChannel.publish({ replicaId: this.directory.replicaId, held: usable.length, meanTunnels: meanTunnels(loads), shed });
      }
    } catch (e) {
      this.report(e as TunnelError); // the next interval tries again
    } finally {
      this.ticking = false;
    }
  }
}

/** The `count` tunnels with the fewest calls running. */
function leastBusy(tunnels: TunnelChannel[], count: number): TunnelChannel[] {
  return count <= 0 ? [] : [...tunnels].sort((a, b) => a.activeCalls - b.activeCalls).slice(0, count);
}

import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import type { TunnelLimits } from "../../engine/limits.js";
import { memoryExhausted, processMemory, type MemoryBudget } from "../../engine/memory-budget.js";
import { TUNNEL_BYTES } from "../../engine/memory-costs.js";
import { tunnelMemory } from "../../engine/tunnel-engine.js";

/** One tunnel admitted on a connection: its memory budget, and the release of its place. */
export interface TunnelLease {
  /** The tunnel's budget, under its connection's. */
  readonly memory: MemoryBudget;
  /** Gives the tunnel's place back; call once the tunnel RPC is over (further calls do nothing). */
  release(): void;
}

interface Connection {
  readonly memory: MemoryBudget;
  tunnels: number;
}

/**
 * The memory budgets and tunnel counts of network connections, by a key
 * that identifies the connection: the tunnel RPC's peer address on the
 * network server, the grpc-js client on the side that dials. A connection's
 * entry lives as long as one of its tunnels does.
 */
export class ConnectionBudgets {
  private readonly connections = new Map<unknown, Connection>();

  /**
   * Admits one more tunnel on connection `key`: its lease, or the status
   * that refuses it (too many tunnels, or the connection's or the process's
   * memory budget is full). A tunnel holds its place, and its own cost,
   * until its RPC is over: a tunnel that ended but whose frames a peer
   * never read still counts.
   */
  admit(key: unknown, limits: TunnelLimits, maxTunnels = limits.maxTunnelsPerConnection, cost = TUNNEL_BYTES): TunnelLease | TunnelError {
    let connection = this.connections.get(key);
    if (connection === undefined) {
      connection = { memory: processMemory.child("maxConnectionMemoryBytes", limits.maxConnectionMemoryBytes), tunnels: 0 };
      this.connections.set(key, connection);
    }
    const refusal =
      connection.tunnels >= maxTunnels
        ? new TunnelError(Code.RESOURCE_EXHAUSTED, `too many tunnels on this connection (limit ${maxTunnels})`)
        : refusedBy(connection.memory.tryCharge(cost));
    if (refusal !== undefined) {
      if (connection.tunnels === 0) {
        this.connections.delete(key);
      }
      return refusal;
    }
    connection.tunnels++;
    let released = false;
    const owner = connection;
    return {
      memory: tunnelMemory(limits, connection.memory),
      release: () => {
        if (released) {
          return;
        }
        released = true;
        owner.memory.release(cost);
        if (--owner.tunnels === 0) {
          this.connections.delete(key);
        }
      },
    };
  }

  /** Tunnels open now on connection `key`. */
  tunnelsOn(key: unknown): number {
    return this.connections.get(key)?.tunnels ?? 0;
  }
}

function refusedBy(budget: MemoryBudget | undefined): TunnelError | undefined {
  return budget === undefined ? undefined : memoryExhausted(budget);
}

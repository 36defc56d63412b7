import { Metadata } from "@grpc/grpc-js";
import type { TunnelInfo, TunnelRole } from "../diagnostics/events.js";

/** What the owner of an engine knows about its tunnel RPC. */
export interface TunnelIdentity {
  direction: "forward" | "reverse";
  peer: string;
  metadata: Metadata;
}

/**
 * Engines made without an identity (tests, tools) are described as a forward
 * tunnel to nobody in particular: a fresh identity each, so that no engine
 * shares metadata another could change.
 */
export function unnamedTunnel(): TunnelIdentity {
  return { direction: "forward", peer: "", metadata: new Metadata() };
}

/** The live figures an engine reports about itself. */
export interface TunnelFigures {
  readonly revisionInUse: 0 | 1 | undefined;
  readonly activeStreams: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly closed: boolean;
}

let nextTunnelId = 1;

/**
 * The TunnelInfo of one engine: fixed facts plus figures read from the
 * engine on access. The engine is kept in a private field, so a diagnostics
 * subscriber holding this object cannot reach (and end) the tunnel.
 */
export class EngineTunnelInfo implements TunnelInfo {
  readonly id = nextTunnelId++;
  readonly openedAt = new Date();
  /** For durations: monotonic, unlike `openedAt`. */
  readonly startedAt = performance.now();
  readonly direction: "forward" | "reverse";
  readonly peer: string;
  readonly metadata: Metadata;
  /** Set by the network server once it has computed the key. */
  affinityKey: unknown = undefined;
  readonly #figures: TunnelFigures;

  constructor(
    figures: TunnelFigures,
    readonly role: TunnelRole,
    identity: TunnelIdentity,
  ) {
    this.#figures = figures;
    this.direction = identity.direction;
    this.peer = identity.peer;
    this.metadata = identity.metadata;
  }

  get protocolRevision(): 0 | 1 | undefined {
    return this.#figures.revisionInUse;
  }
  get activeCalls(): number {
    return this.#figures.activeStreams;
  }
  get bytesSent(): number {
    return this.#figures.bytesSent;
  }
  get bytesReceived(): number {
    return this.#figures.bytesReceived;
  }
  get closed(): boolean {
    return this.#figures.closed;
  }
}

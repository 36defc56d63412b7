import type * as grpc from "@grpc/grpc-js";
import { openTunnelChannel } from "../../api/tunnels/index.js";
import type { TunnelChannel } from "../../api/tunnels/index.js";
import { Code } from "../../code.js";
import { untilAborted } from "../../deferred.js";
import type { TunnelLimits } from "../../engine/limits.js";
import { TunnelError } from "../../errors.js";
import { TunnelServiceClient } from "../../transport/tunnel-service.js";
import { RELAY_SECRET_HEADER } from "./relay-metadata.js";

export interface PeerTunnelsOptions {
  secret: string;
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  limits: TunnelLimits;
  /** How long opening a tunnel to a peer may take before the peer counts as unreachable. */
  connectTimeoutMs: number;
  /** Relay tunnels opened to each peer; calls go to the least busy. */
  tunnelsPerPeer: number;
}

/** One other replica's relay listener, as this replica reaches it. */
interface Peer {
  readonly client: TunnelServiceClient;
  /** The open tunnels to it. */
  readonly tunnels: TunnelChannel[];
  opening: Promise<TunnelChannel> | undefined;
}

/**
 * The forward tunnels from this replica to the relay listeners of the
 * others: `tunnelsPerPeer` long-lived tunnels per peer address, opened
 * together on first use and again once all have ended; every call relayed
 * to that peer is a stream on the least busy one. Several, because a
 * tunnel is one gRPC stream whose frames grpc-js writes one at a time
 * (each waits for the previous write to complete): one tunnel would
 * serialise every relayed call between two replicas. A peer whose tunnels
 * cannot be opened (or have all ended) is forgotten, so addresses of
 * replicas gone for good do not pile up.
 */
export class PeerTunnels {
  private readonly peers = new Map<string, Peer>();
  private closed = false;

  constructor(private readonly options: PeerTunnelsOptions) {}

  /** The least busy open tunnel to the relay listener at `address`, if there is one now. */
  current(address: string): TunnelChannel | undefined {
    const tunnels = this.peers.get(address)?.tunnels;
    if (tunnels === undefined) {
      return undefined;
    }
    let best: TunnelChannel | undefined;
    for (const tunnel of tunnels) {
      // Stryker disable next-line EqualityOperator: equivalent: of equally busy tunnels, the last is as least busy as the first
      if (!tunnel.closed && (best === undefined || tunnel.activeCalls < best.activeCalls)) {
        best = tunnel;
      }
    }
    return best;
  }

  /** How many tunnels to the relay listener at `address` are open now. */
  openCount(address: string): number {
    return this.peers.get(address)?.tunnels.filter((tunnel) => !tunnel.closed).length ?? 0;
  }

  /**
   * An open, usable tunnel to the relay listener at `address`: a current
   * one, or the first of new ones (concurrent callers share the opening).
   * Rejects with the reason the peer cannot be reached, or when `signal`
   * aborts first.
   */
  tunnel(address: string, signal: AbortSignal): Promise<TunnelChannel> {
    if (this.closed) {
      return Promise.reject(new TunnelError(Code.UNAVAILABLE, "the cluster is closed"));
    }
    const current = this.current(address);
    if (current !== undefined) {
      return Promise.resolve(current);
    }
    const peer = this.peer(address);
    peer.opening ??= this.open(address, peer);
    return untilAborted(peer.opening, signal);
  }

  /** True once `close` was called: tunnels ending now end because of this replica, not their peer. */
  get closing(): boolean {
    return this.closed;
  }

  /** Closes every peer tunnel (cancelling calls relayed on them) and client. */
  close(): void {
    this.closed = true;
    for (const [address, peer] of this.peers) {
      this.forget(address, peer);
    }
  }

  private peer(address: string): Peer {
    let peer = this.peers.get(address);
    if (peer === undefined) {
      const { credentials, channelOptions } = this.options;
      // Its own connection: relayed traffic does not share a subchannel with anything else.
      const client = new TunnelServiceClient(address, credentials, { "grpc.use_local_subchannel_pool": 1, ...channelOptions });
      peer = { client, tunnels: [], opening: undefined };
      this.peers.set(address, peer);
    }
    return peer;
  }

  /** Opens the peer's tunnels together: resolves with the first open, rejects if none opens. */
  private async open(address: string, peer: Peer): Promise<TunnelChannel> {
    const { connectTimeoutMs, tunnelsPerPeer } = this.options;
    // Aborting before a tunnel is open fails its opening; it is never aborted after.
    const openings = Array.from({ length: tunnelsPerPeer }, () => new AbortController());
    const timer = setTimeout(() => {
      const late = new TunnelError(Code.UNAVAILABLE, `no answer within ${connectTimeoutMs} ms`);
      for (const opening of openings) {
        opening.abort(late);
      }
    }, connectTimeoutMs);
    const attempts = openings.map((opening) => this.openOne(address, peer, opening.signal));
    void Promise.allSettled(attempts).then(() => clearTimeout(timer));
    try {
      return await Promise.any(attempts);
    } catch (e) {
      peer.opening = undefined;
      this.forgetIfIdle(address, peer);
      const first: unknown = (e as AggregateError).errors[0];
      const error = TunnelError.from(first, Code.UNAVAILABLE);
      throw new TunnelError(error.code, `relay at ${address}: ${error.rawMessage}`, { cause: first });
    } finally {
      peer.opening = undefined;
    }
  }

  private async openOne(address: string, peer: Peer, signal: AbortSignal): Promise<TunnelChannel> {
    const tunnel = await openTunnelChannel(
      peer.client,
      { metadata: { [RELAY_SECRET_HEADER]: this.options.secret }, signal, limits: this.options.limits },
      // A refusal on a relay tunnel concerns one key (the peer lost it), not the peer: keep using the tunnel.
      { drainOnRefusal: false },
    );
    if (this.peers.get(address) !== peer) {
      // Forgotten while it opened: close() forgets every peer (no other path forgets one with an opening under way).
      tunnel.close();
      throw new TunnelError(Code.UNAVAILABLE, "the cluster is closed");
    }
    peer.tunnels.push(tunnel);
    void tunnel.done.then(() => {
      const index = peer.tunnels.indexOf(tunnel);
      if (index >= 0) {
        peer.tunnels.splice(index, 1);
      }
      this.forgetIfIdle(address, peer);
    });
    return tunnel;
  }

  /** Forgets the peer once it has no tunnel open and none opening. */
  private forgetIfIdle(address: string, peer: Peer): void {
    if (peer.tunnels.length === 0 && peer.opening === undefined) {
      this.forget(address, peer);
    }
  }

  /** Drops a peer (if it is still the one kept for `address`): its tunnels and client close. */
  private forget(address: string, peer: Peer): void {
    if (this.peers.get(address) === peer) {
      this.peers.delete(address);
    }
    for (const tunnel of [...peer.tunnels]) {
      tunnel.close();
    }
    peer.client.close();
  }
}

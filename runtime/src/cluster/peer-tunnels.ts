import type * as grpc from "@grpc/grpc-js";
import { openTunnelChannel } from "../api/open-tunnel.js";
import type { TunnelChannel } from "../api/tunnel-channel.js";
import { Code } from "../code.js";
import { untilAborted } from "../deferred.js";
import type { TunnelLimits } from "../engine/limits.js";
import { TunnelError } from "../errors.js";
import { TunnelServiceClient } from "../transport/tunnel-service.js";
import { RELAY_SECRET_HEADER } from "./relay-metadata.js";

export interface PeerTunnelsOptions {
  secret: string;
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  limits: TunnelLimits;
  /** How long opening a tunnel to a peer may take before the peer counts as unreachable. */
  connectTimeoutMs: number;
}

/** One other replica's relay listener, as this replica reaches it. */
interface Peer {
  readonly client: TunnelServiceClient;
  tunnel: TunnelChannel | undefined;
  opening: Promise<TunnelChannel> | undefined;
}

/**
 * The forward tunnels from this replica to the relay listeners of the
 * others: one long-lived tunnel per peer address, opened on first use and
 * again after it ended; every call relayed to that peer is a stream on it.
 * A peer whose tunnel cannot be opened (or that ended it) is forgotten, so
 * addresses of replicas gone for good do not pile up.
 */
export class PeerTunnels {
  private readonly peers = new Map<string, Peer>();
  private closed = false;

  constructor(private readonly options: PeerTunnelsOptions) {}

  /** The open tunnel to the relay listener at `address`, if there is one now. */
  current(address: string): TunnelChannel | undefined {
    const tunnel = this.peers.get(address)?.tunnel;
    return tunnel !== undefined && !tunnel.closed ? tunnel : undefined;
  }

  /**
   * An open, usable tunnel to the relay listener at `address`: the current
   * one, or a new one (concurrent callers share the opening). Rejects with
   * the reason the peer cannot be reached, or when `signal` aborts first.
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
      peer = { client, tunnel: undefined, opening: undefined };
      this.peers.set(address, peer);
    }
    return peer;
  }

  private async open(address: string, peer: Peer): Promise<TunnelChannel> {
    const { connectTimeoutMs } = this.options;
    // Aborting before the tunnel is open fails the opening; it is never aborted after.
    const opening = new AbortController();
    const timer = setTimeout(
      () => opening.abort(new TunnelError(Code.UNAVAILABLE, `no answer within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    try {
      const tunnel = await openTunnelChannel(
        peer.client,
        { metadata: { [RELAY_SECRET_HEADER]: this.options.secret }, signal: opening.signal, limits: this.options.limits },
        // A refusal on a relay tunnel concerns one key (the peer lost it), not the peer: keep using the tunnel.
        { drainOnRefusal: false },
      );
      if (this.closed) {
        tunnel.close();
        throw new TunnelError(Code.UNAVAILABLE, "the cluster is closed");
      }
      peer.tunnel = tunnel;
      void tunnel.done.then(() => this.forget(address, peer));
      return tunnel;
    } catch (e) {
      this.forget(address, peer);
      const error = TunnelError.from(e, Code.UNAVAILABLE);
      throw new TunnelError(error.code, `relay at ${address}: ${error.rawMessage}`, { cause: e });
    } finally {
      clearTimeout(timer);
      peer.opening = undefined;
    }
  }

  /** Drops a peer (if it is still the one kept for `address`): its tunnel and client close. */
  private forget(address: string, peer: Peer): void {
    if (this.peers.get(address) === peer) {
      this.peers.delete(address);
    }
    peer.tunnel?.close();
    peer.client.close();
  }
}

import type { CallChannel } from "../api/client/index.js";
import type { CallOptions } from "../api/client/index.js";
import type { CallStream } from "../api/client/index.js";
import type { ReplayBudget } from "../api/retry/index.js";
import { describeKey, type ReverseChannel } from "../api/reverse/index.js";
import type { ReverseTunnelRegistry } from "../api/reverse/index.js";
import { startRetryingCall } from "../api/retry/index.js";
import type { TunnelChannel } from "../api/tunnels/index.js";
import { Code } from "../code.js";
import { callRoutedChannel } from "../diagnostics/channels.js";
import { TunnelError } from "../errors.js";
import type { AffinityDirectory } from "./directory/index.js";
import type { PeerTunnels } from "./relay/index.js";
import { RelayTarget, SERVED_BY_HEADER } from "./relay/index.js";
import type { RouteCache } from "./route-cache.js";

/** What routing a call in the cluster needs. */
export interface ClusterRoutes {
  readonly replicaId: string;
  readonly directory: AffinityDirectory;
  /** This replica's own reverse tunnels. */
  readonly local: ReverseTunnelRegistry<string>;
  readonly peers: PeerTunnels;
  /** Where keys were found lately. */
  readonly cache: RouteCache;
  readonly replay: ReplayBudget | undefined;
}

/**
 * `keyAsChannel(key)` in cluster mode. A call goes to a tunnel of this
 * replica when there is one — picked at once, without asking the directory,
 * so local calls cost what they cost without a cluster — else to a replica
 * the directory names, through the relay (started at once too when the
 * route is cached and its relay tunnel open). Calls refused before any
 * handler saw them (a stale route: that replica lost the key or is
 * draining; a local tunnel ending) are routed once more on a fresh lookup,
 * excluding the replica that refused; with `waitForReady` as often as
 * needed within the deadline.
 */
export class ClusterChannel implements ReverseChannel {
  /** A call found the key on another replica, and none found it gone since. */
  private remoteSeen = false;

  constructor(
    private readonly key: string,
    private readonly routes: ClusterRoutes,
  ) {}

  /** True when a tunnel for the key is here, or the key was last seen on another replica. */
  ready(): boolean {
    return this.routes.local.list({ all: false, key: this.key }).length > 0 || this.remoteSeen;
  }

  /** Resolves once the key is held here or on any other replica (an agent connecting anywhere wakes it). */
  async waitForReady(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal ?? new AbortController().signal;
    try {
      // Stryker disable next-line BooleanLiteral,ArrayDeclaration: appears() reads no waitForReady flag; a made-up id excludes no replica
      await new CallRoute(this.key, this.routes, true).appears(signal, []);
    } catch (e) {
      throw TunnelError.from(e, Code.CANCELLED);
    }
    this.remoteSeen ||= this.routes.local.list({ all: false, key: this.key }).length === 0;
  }

  startCall(method: string, options: CallOptions = {}): CallStream {
    const waitForReady = options.waitForReady === true;
    const route = new CallRoute(this.key, this.routes, waitForReady, (found) => (this.remoteSeen = found));
    const now = route.local() ?? route.cached();
    return startRetryingCall({
      method,
      options,
      first: now ?? ((signal) => route.resolve(signal, undefined)),
      another: (refusing, signal) => route.another(refusing, signal),
      budget: this.routes.replay,
      maxRetries: waitForReady ? Number.POSITIVE_INFINITY : 1,
    });
  }
}

/** Where one call may go, and where it already found no way in. */
class CallRoute {
  /** Replicas that could not be reached for this call, with why. */
  private readonly unreachable = new Map<string, TunnelError>();

  constructor(
    private readonly key: string,
    private readonly routes: ClusterRoutes,
    private readonly waitForReady: boolean,
    private readonly onRemote: (found: boolean) => void = () => {},
  ) {}

  /**
   * A relay to a cached route, picked at random, when its relay tunnel is
   * open now: no waiting. Undefined otherwise (the call then opens it).
   */
  cached(): RelayTarget | undefined {
    const { cache, peers } = this.routes;
    const routes = cache.get(this.key);
    if (routes === undefined) {
      return undefined;
    }
    const route = routes[Math.floor(Math.random() * routes.length)];
    const tunnel = peers.current(route.address);
    return tunnel === undefined ? undefined : this.relayTo(route.replicaId, tunnel);
  }

  /** A tunnel of this replica for the key, if there is one now. */
  local(): ServedHere | undefined {
    const tunnel = this.routes.local.pick({ all: false, key: this.key });
    return tunnel === undefined ? undefined : new ServedHere(tunnel, this.key, this.routes.replicaId);
  }

  /** The next target after `refusing` refused the call: another local tunnel, else a route found anew. */
  another(refusing: CallChannel, signal: AbortSignal): CallChannel | Promise<CallChannel> {
    if (refusing instanceof RelayTarget) {
      this.routes.cache.forget(this.key); // stale: look it up again
      return this.resolve(signal, refusing.replicaId);
    }
    const other = this.otherLocal(refusing instanceof ServedHere ? refusing.tunnel : refusing);
    return other === undefined ? this.resolve(signal, undefined) : new ServedHere(other, this.key, this.routes.replicaId);
  }

  /**
   * A target for the call: a local tunnel, or a reachable replica holding
   * the key other than `avoid` (the one that just refused). Without
   * `waitForReady` it fails at once (UNAVAILABLE) when there is none or the
   * directory cannot be asked; with it, it waits for the key to appear.
   */
  async resolve(signal: AbortSignal, avoid: string | undefined): Promise<CallChannel> {
    for (;;) {
      const local = this.local();
      if (local !== undefined) {
        return local;
      }
      const target = await this.remote(signal, avoid);
      if (target !== undefined) {
        this.onRemote(true);
        return target;
      }
      if (!this.waitForReady) {
        this.onRemote(false);
        throw this.noRoute(avoid);
      }
      avoid = undefined; // whatever appears from now on is worth a try
      await this.appears(signal, [...this.unreachable.keys()]);
    }
  }

  /** Resolves once the key is held here or on a replica other than this one and `exclude`. */
  async appears(signal: AbortSignal, exclude: string[]): Promise<void> {
    const { local, directory, replicaId } = this.routes;
    const found = new AbortController();
    const either = AbortSignal.any([signal, found.signal]);
    try {
      await Promise.race([
        local.waitFor({ all: false, key: this.key }, either),
        directory.waitFor(this.key, { exclude: [replicaId, ...exclude], signal: either }),
      ]);
    } finally {
      found.abort(); // stops the other wait
    }
  }

  /** A relay to a reachable replica that holds the key, if there is one. */
  private async remote(signal: AbortSignal, avoid: string | undefined): Promise<RelayTarget | undefined> {
    const { directory, peers, replicaId, cache } = this.routes;
    let routes = cache.get(this.key);
    try {
      routes ??= await cache.lookup(this.key, () => directory.lookup(this.key, { exclude: replicaId }));
    } catch (e) {
      if (this.waitForReady) {
        return undefined; // waiting outlasts an outage of the directory
      }
      const error = TunnelError.from(e, Code.UNAVAILABLE);
      throw new TunnelError(error.code, `cannot route the call for key ${describeKey(this.key)}: ${error.rawMessage}`, { cause: e });
    }
    for (const route of shuffled(routes)) {
      if (route.replicaId === avoid || this.unreachable.has(route.replicaId)) {
        continue;
      }
      try {
        return this.relayTo(route.replicaId, await peers.tunnel(route.address, signal));
      } catch (e) {
        if (signal.aborted) {
          throw signal.reason;
        }
        this.unreachable.set(route.replicaId, TunnelError.from(e, Code.UNAVAILABLE));
        cache.forgetReplica(route.replicaId);
      }
    }
    return undefined;
  }

  private relayTo(replicaId: string, tunnel: TunnelChannel): RelayTarget {
    const { peers } = this.routes;
    const from = this.routes.replicaId;
    return new RelayTarget(
      replicaId,
      tunnel,
      this.key,
      () => peers.closing,
      (method) => routed(this.key, method, replicaId, from),
    );
  }

  private otherLocal(refusing: CallChannel): TunnelChannel | undefined {
    const selector = { all: false, key: this.key } as const;
    const candidates = this.routes.local.list(selector).length;
    for (let tried = 0; tried < candidates; tried++) {
      const tunnel = this.routes.local.pick(selector);
      if (tunnel !== undefined && tunnel !== refusing) {
        return tunnel;
      }
    }
    return undefined;
  }

  private noRoute(refusedBy: string | undefined): TunnelError {
    const why: string[] = [];
    if (refusedBy !== undefined) {
      why.push(`replica ${refusedBy} refused it`);
    }
    for (const [id, error] of this.unreachable) {
      why.push(`replica ${id} unreachable: ${error.rawMessage}`);
    }
    const suffix = why.length === 0 ? "" : ` (${why.join("; ")})`;
    return new TunnelError(Code.UNAVAILABLE, `no reverse tunnel for key ${describeKey(this.key)} on any replica${suffix}`);
  }
}

/** The routes in random order, spreading calls over replicas that share a key. */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  // Stryker disable next-line EqualityOperator: at i = 0, j is 0 too: the first item swaps with itself
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A tunnel of this replica as the target of a call: its response headers
 * say that this replica served it (`tunnel-served-by`), as a relayed call's
 * say which other replica did.
 */
class ServedHere implements CallChannel {
  constructor(
    readonly tunnel: TunnelChannel,
    private readonly key: string,
    private readonly replicaId: string,
  ) {}

  startCall(method: string, options: CallOptions = {}): CallStream {
    routed(this.key, method, this.replicaId, this.replicaId);
    const { onHeader } = options;
    return this.tunnel.startCall(method, {
      ...options,
      onHeader: (headers) => {
        headers.set(SERVED_BY_HEADER, this.replicaId);
        onHeader?.(headers);
      },
    });
  }
}

/** Publishes which replica serves a call (`grpctunnel:call:routed`), when someone listens. */
function routed(key: string, method: string, servedBy: string, replicaId: string): void {
  // Stryker disable next-line ConditionalExpression: publishing to a channel without subscribers does nothing
  if (callRoutedChannel.hasSubscribers) {
    callRoutedChannel.publish({ key, method, servedBy, replicaId, relayed: servedBy !== replicaId });
  }
}

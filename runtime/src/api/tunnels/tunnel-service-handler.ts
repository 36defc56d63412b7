import type * as grpc from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import type { TunnelInfo } from "../../diagnostics/events.js";
import { TunnelClientEngine } from "../../engine/client-engine.js";
import { resolveLimits, type TunnelLimits } from "../../engine/limits.js";
import { TunnelServerEngine } from "../../engine/server-engine.js";
import { advertisesNegotiation } from "../../protocol/negotiation.js";
import { goAway } from "../../transport/go-away.js";
import {
  sendNegotiationHeaders,
  tunnelService,
  type tunnelServiceDefinition,
  type OpenReverseTunnelServerCall,
  type OpenTunnelServerCall,
} from "../../transport/tunnel-service.js";
import type { ClusterRouting } from "./replica-cluster.js";
import { filteredKeys, type AgentKeySource, type KeyFilter } from "../fanout/index.js";
import { ConnectionBudgets } from "./connection-budgets.js";
import { DEFAULT_REPLAY_BUFFER, ReplayBudget } from "../retry/index.js";
import { LiveTunnels } from "./live-tunnels.js";
import { acceptTunnel, type Admission } from "./tunnel-setup.js";
import { RoundRobinChannel, type ReverseChannel, type ReverseChannels } from "../reverse/index.js";
import { LocalReverseTunnelRegistry, type ReverseTunnelRegistry } from "../reverse/index.js";
import { ReverseTunnels } from "../reverse/index.js";
import { CallQuotas, QuotaChannel } from "../quotas/index.js";
import { ServiceHost } from "../serve/index.js";
import { tunnelChannel, type TunnelChannel } from "./tunnel-channel.js";
import type { DrainOptions, TunnelServiceHandlerOptions } from "./tunnel-service-handler-options.js";

export type { DrainOptions, TunnelServiceHandlerOptions } from "./tunnel-service-handler-options.js";

const DEFAULT_DRAIN_GRACE_MS = 10_000;
const DEFAULT_REPLACED_GRACE_MS = 5_000;

/**
 * Implements `grpctunnel.v1.TunnelService` for a grpc-js server: serves the
 * services registered here over forward tunnels, and keeps the reverse
 * tunnels clients open so the server can call them. Add it to a server with
 * `server.addService(...handler.service())`; for shutdown see `drain`.
 */
export class TunnelServiceHandler<K = unknown> extends ServiceHost implements ReverseChannels<K>, AgentKeySource<K> {
  private readonly reverse: ReverseTunnelRegistry<K>;
  private readonly limits: TunnelLimits;
  /** Memory budgets and tunnel counts per network connection, or per `budgetKey` (see TunnelLimits). */
  private readonly admission: Admission;
  private readonly replay: ReplayBudget | undefined;
  /** Every tunnel open now, forward and reverse (negotiating ones too): what `drain` ends. */
  private readonly tunnels = new LiveTunnels<TunnelServerEngine | TunnelClientEngine>();
  private readonly reverseTunnels: ReverseTunnels<K>;
  private readonly cluster: ClusterRouting | undefined;
  private readonly quotas: CallQuotas | undefined;
  /** The grpc-js call of each reverse tunnel, to ask its agent for a new connection when it is shed. */
  private readonly reverseCalls = new WeakMap<TunnelChannel, OpenReverseTunnelServerCall>();
  private stopping = false;
  private drained: Promise<void> | undefined;

  constructor(private readonly options: TunnelServiceHandlerOptions<K> = {}) {
    super(options.interceptors);
    this.limits = resolveLimits(options.limits);
    this.admission = { budgets: new ConnectionBudgets(), limits: this.limits, budgetKey: options.budgetKey };
    const retry = options.retryRefusedCalls ?? true;
    this.replay = retry === false ? undefined : new ReplayBudget({ ...DEFAULT_REPLAY_BUFFER, ...(retry === true ? {} : retry) });
    const local = options.registry ?? new LocalReverseTunnelRegistry<K>();
    this.quotas = options.quotas === undefined ? undefined : new CallQuotas(options.quotas);
    // In cluster mode K is string (the option's type says so).
    this.cluster = options.cluster?.attach({
      local: local as unknown as ReverseTunnelRegistry<string>,
      localChannel: (key) => this.limited(new RoundRobinChannel(local, { all: false, key: key as K }, this.replay), key),
      replay: this.replay,
      limits: this.limits,
      shed: (tunnel, graceMs) => this.shed(tunnel, graceMs),
    });
    this.reverse = (this.cluster?.registry as ReverseTunnelRegistry<K> | undefined) ?? local;
    const limit = options.maxReverseTunnelsPerKey;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
      throw new RangeError(`maxReverseTunnelsPerKey must be an integer >= 1 (got ${limit})`);
    }
    this.reverseTunnels = new ReverseTunnels({
      registry: this.reverse,
      maxPerKey: limit,
      conflictPolicy: options.reverseTunnelConflict ?? (limit === 1 ? "replace-oldest" : "refuse-new"),
      replacedGraceMs: options.replacedTunnelGraceMs ?? DEFAULT_REPLACED_GRACE_MS,
      onOpen: options.onReverseTunnelOpen,
      onClose: options.onReverseTunnelClose,
    });
  }

  /** The definition and implementation to pass to `grpc.Server.addService`. */
  service(): [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation] {
    return tunnelService(
      (call) => this.openTunnel(call),
      (call) => this.openReverseTunnel(call),
    );
  }

  /**
   * Stops taking new work: new tunnels (forward and reverse) and new
   * tunneled calls on every tunnel are refused with UNAVAILABLE ("server is
   * shutting down"), and reverse tunnels are no longer picked for calls.
   * Running calls go on and no tunnel is closed; `drain` does that too.
   */
  initiateShutdown(): void {
    if (this.stopping) {
      return;
    }
    this.stopping = true;
    this.cluster?.initiateShutdown();
    this.reverseTunnels.drainAll(shuttingDown());
  }

  /** True once `initiateShutdown` (or `drain`) was called: the handler takes no new work. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /**
   * Graceful shutdown that completes: `initiateShutdown`, then each tunnel
   * (forward and reverse) ends cleanly as soon as its running calls have
   * finished, so that `grpc.Server.tryShutdown` can complete; agents with
   * `reconnect` see a clean end and reconnect (elsewhere, behind a load
   * balancer). After `graceMs` the tunnels still open end with UNAVAILABLE,
   * cancelling what runs on them. Resolves once every tunnel has ended;
   * calling it again returns the same promise.
   *
   * ```ts
   * const stopped = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
   * await handler.drain({ graceMs: 20_000 });
   * await stopped;
   * ```
   */
  drain(options: DrainOptions = {}): Promise<void> {
    const graceMs = options.graceMs ?? DEFAULT_DRAIN_GRACE_MS;
    if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
      throw new RangeError(`graceMs must be a finite number >= 0 (got ${graceMs})`);
    }
    this.drained ??= this.drainTunnels(graceMs);
    return this.drained;
  }

  /**
   * A channel over every usable reverse tunnel, round-robin per call. With
   * none open, calls fail with UNAVAILABLE. In cluster mode only this
   * replica's tunnels. Throws if `noReverseTunnels` is set.
   */
  asChannel(): ReverseChannel {
    this.assertReverseTunnels();
    return new RoundRobinChannel(this.reverse, { all: true }, this.replay);
  }

  /**
   * A channel over the usable reverse tunnels whose affinity key equals
   * `key` (by value for strings and numbers), round-robin per call. With
   * none open, calls fail with UNAVAILABLE naming the key (or wait, with
   * the `waitForReady` call option). In cluster mode a key held by another
   * replica is reached through it. Throws if `noReverseTunnels` is set.
   */
  keyAsChannel(key: K): ReverseChannel {
    this.assertReverseTunnels();
    const channel =
      this.cluster?.keyAsChannel(key as string) ??
      new RoundRobinChannel(this.reverse, { all: false, key }, this.replay, () => this.keylessHint(key));
    return this.limited(channel, key);
  }

  /**
   * The reverse tunnels open and registered now, oldest first, draining
   * ones included (see `TunnelChannel.draining`); a tunnel leaves the moment
   * it ends.
   */
  allReverseTunnels(): TunnelChannel[] {
    return this.reverseTunnels.registered();
  }

  /**
   * The affinity keys of the agents this handler can call now, each once,
   * produced as they are iterated (never a copy of the whole fleet): what
   * `forEachAgent` lists for `{ all }` and `{ prefix }`. The reverse tunnels
   * of this replica; in cluster mode the cluster's keys once its directory
   * can list them, this replica's until then. `prefix` matches string keys.
   */
  agentKeys(filter: KeyFilter = {}): AsyncIterable<K> {
    this.assertReverseTunnels();
    const cluster = this.cluster?.agentKeys?.(filter) as AsyncIterable<K> | undefined;
    return cluster ?? filteredKeys(this.reverseTunnels.usableKeys(), filter);
  }

  /**
   * Every tunnel open here now, forward and reverse (registered ones), with
   * live figures (affinity key, peer, revision, active calls, bytes): what
   * status pages show.
   */
  listTunnels(): TunnelInfo[] {
    return this.tunnels.infos();
  }

  /**
   * Ends every reverse tunnel with affinity key `key` now, registered or
   * still negotiating, e.g. to revoke a device: with `status` they fail with
   * it (the agent's `serve` reports it; running calls fail with UNAVAILABLE),
   * without it they end cleanly (running calls are cancelled). Returns how
   * many were ended. To keep the device out, also refuse it in `affinityKey`.
   */
  closeReverseTunnels(key: K, status?: TunnelError): number {
    return this.reverseTunnels.close(key, status);
  }

  /**
   * Rebalancing: the tunnel takes no new calls, ends cleanly once its calls
   * finished, and its agent is asked (HTTP/2 GOAWAY) to reconnect on a new
   * connection — through its balancer, so possibly to another replica.
   */
  private shed(tunnel: TunnelChannel, graceMs: number): boolean {
    if (!this.reverseTunnels.shed(tunnel, graceMs)) {
      return false;
    }
    const call = this.reverseCalls.get(tunnel);
    if (call !== undefined) {
      goAway(call);
    }
    return true;
  }

  /** `channel` under the `quotas` option, if there is one. */
  private limited(channel: ReverseChannel, key: unknown): ReverseChannel {
    return this.quotas === undefined ? channel : new QuotaChannel(channel, key, this.quotas);
  }

  /**
   * Without `affinityKey` every tunnel has the key `undefined`, so a channel
   * for any other key never finds one: say so instead of "none is open".
   */
  private keylessHint(key: K): string | undefined {
    if (this.options.affinityKey !== undefined || key === undefined) {
      return undefined;
    }
    const open = this.reverse.list({ all: true }).length;
    return (
      `this TunnelServiceHandler has no affinityKey option, so all its reverse tunnels (${open} open) have the key undefined;` +
      " set affinityKey to key them, e.g. by a tunnel metadata value"
    );
  }

  private assertReverseTunnels(): void {
    if (this.options.noReverseTunnels) {
      throw new Error("reverse tunnels are disabled on this TunnelServiceHandler (noReverseTunnels)");
    }
  }

  private get flowControl(): boolean {
    return !this.options.disableFlowControl;
  }

  private drainTunnels(graceMs: number): Promise<void> {
    this.initiateShutdown();
    const over = new TunnelError(Code.UNAVAILABLE, `server is shutting down (grace period of ${graceMs} ms over)`);
    const ending = [this.tunnels.retire(graceMs, over)];
    if (this.cluster !== undefined) {
      ending.push(this.cluster.drain(graceMs));
    }
    return Promise.all(ending).then(() => undefined);
  }

  private openTunnel(call: OpenTunnelServerCall): void {
    if (this.registry.isEmpty) {
      call.emit("error", { code: Code.UNIMPLEMENTED, details: NO_SERVICES });
      return;
    }
    if (this.stopping) {
      call.emit("error", { code: Code.UNAVAILABLE, details: shuttingDown().rawMessage });
      return;
    }
    const accepted = acceptTunnel(call, this.admission);
    if (accepted === undefined) {
      return;
    }
    const { conn, lease } = accepted;
    sendNegotiationHeaders(call);
    const engine = new TunnelServerEngine(conn, {
      flowControl: this.flowControl,
      peerAdvertised: advertisesNegotiation(call.metadata),
      tunnelMetadata: call.metadata,
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
      limits: this.limits,
      memory: lease.memory,
      lookup: (method) => this.registry.lookup(method),
      isShuttingDown: () => this.stopping,
    });
    accepted.guard((error) => engine.abort(error));
    this.tunnels.add(engine);
    engine.start();
    engine.announceOpen();
    conn.listen(engine);
  }

  private openReverseTunnel(call: OpenReverseTunnelServerCall): void {
    if (this.options.noReverseTunnels) {
      call.emit("error", { code: Code.UNIMPLEMENTED, details: "reverse tunnels not supported" });
      return;
    }
    if (this.stopping) {
      call.emit("error", { code: Code.UNAVAILABLE, details: shuttingDown().rawMessage });
      return;
    }
    const accepted = acceptTunnel(call, this.admission);
    if (accepted === undefined) {
      return;
    }
    const { conn, lease } = accepted;
    const engine = new TunnelClientEngine(conn, {
      flowControl: this.flowControl,
      expectSettings: advertisesNegotiation(call.metadata),
      limits: this.limits,
      memory: lease.memory,
      tunnel: { direction: "reverse", peer: call.getPeer(), metadata: call.metadata },
    });
    const tunnel = tunnelChannel(engine, {
      direction: "reverse",
      metadata: call.metadata,
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
    });
    // The key is computed before the tunnel RPC answers, so a refusal reaches
    // the network client as the status of an RPC that never started.
    let key: K;
    try {
      key = this.options.affinityKey ? this.options.affinityKey(tunnel) : (undefined as K);
    } catch (e) {
      conn.abort(refusal(e));
      return;
    }
    const overLimit = this.reverseTunnels.admissionError(key);
    if (overLimit !== undefined) {
      conn.abort(overLimit);
      return;
    }
    engine.info.affinityKey = key;
    tunnel.setKey(key);
    this.reverseCalls.set(tunnel, call);
    this.reverseTunnels.arrived(tunnel, engine, key);
    accepted.guard((error) => engine.abort(error));
    this.tunnels.add(engine);
    sendNegotiationHeaders(call);
    conn.listen(engine);
    engine.ready.then(
      () => {
        if (this.stopping) {
          engine.close(); // negotiated just after the drain began: the agent reconnects elsewhere
        } else {
          this.reverseTunnels.register(tunnel);
        }
      },
      () => {}, // ended before negotiation finished: never registered
    );
  }
}

function shuttingDown(): TunnelError {
  return new TunnelError(Code.UNAVAILABLE, "server is shutting down");
}

/** Go's message, and why: a handler serves forward tunnels once a service is registered. */
const NO_SERVICES =
  "forward tunnels not supported: no services are registered on this TunnelServiceHandler" +
  " (register one, e.g. with a generated registerFooService(handler, impl), before clients open tunnels)";

/**
 * The status that refuses a reverse tunnel whose affinity key could not be
 * computed: a thrown TunnelError as is; anything else is an INTERNAL error
 * whose details stay in this process.
 */
function refusal(e: unknown): TunnelError {
  if (e instanceof TunnelError) {
    return TunnelError.from(e); // as is, unless it only carries the brand
  }
  process.emitWarning(`grpctunnel: affinityKey threw, reverse tunnel refused: ${TunnelError.from(e).rawMessage}`);
  return new TunnelError(Code.INTERNAL, "could not compute the reverse tunnel's affinity key");
}

import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel } from "../client/index.js";
import type { CallOptions } from "../client/index.js";
import type { CallStream } from "../client/index.js";
import type { ReverseTunnelRegistry, TunnelSelector } from "./tunnel-registry.js";
import type { ReplayBudget, TunnelCandidates } from "../retry/index.js";
import { startRetryingCall } from "../retry/index.js";
import type { TunnelChannel } from "../tunnels/index.js";

/**
 * Calls over the reverse tunnels a server holds, spread round-robin over the
 * matching tunnels (Go's `ReverseClientConnInterface`). Draining tunnels are
 * skipped. A call refused before any handler saw it is retried once on
 * another matching tunnel, invisibly to the caller (see
 * `TunnelServiceHandlerOptions.retryRefusedCalls`).
 */
export interface ReverseChannel extends CallChannel {
  /** True when at least one matching reverse tunnel is open and not draining. */
  ready(): boolean;
  /**
   * Resolves once a matching tunnel is open and not draining (keeps waiting
   * while the only ones are draining); rejects when `signal` aborts first.
   */
  waitForReady(options?: { signal?: AbortSignal }): Promise<void>;
}

/** Where round-robin channels come from: a TunnelServiceHandler. */
export interface ReverseChannels<K> {
  /** A channel over all reverse tunnels. */
  asChannel(): ReverseChannel;
  /** A channel over the reverse tunnels whose affinity key is `key`. */
  keyAsChannel(key: K): ReverseChannel;
  /** The reverse tunnels open now. */
  allReverseTunnels(): TunnelChannel[];
}

export class RoundRobinChannel<K> implements ReverseChannel, TunnelCandidates {
  constructor(
    private readonly registry: ReverseTunnelRegistry<K>,
    private readonly selector: TunnelSelector<K>,
    /** Where refused calls keep their requests for a replay; undefined: no retries. */
    private readonly replay: ReplayBudget | undefined,
    /** Why no tunnel may match besides none being open (e.g. no affinityKey option), if known. */
    private readonly explain: () => string | undefined = () => undefined,
  ) {}

  ready(): boolean {
    return this.registry.list(this.selector).length > 0;
  }

  /** The usable tunnels calls pick from now (hedging puts each attempt on one of its own). */
  candidates(): TunnelChannel[] {
    return this.registry.list(this.selector);
  }

  async waitForReady(options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.registry.waitFor(this.selector, options.signal);
    } catch (e) {
      throw TunnelError.from(e, Code.CANCELLED);
    }
  }

  startCall(method: string, options: CallOptions = {}): CallStream {
    const tunnel = this.registry.pick(this.selector);
    if (tunnel === undefined && !options.waitForReady) {
      throw new TunnelError(Code.UNAVAILABLE, this.noTunnel());
    }
    if (tunnel !== undefined && this.replay === undefined && !options.waitForReady) {
      return tunnel.startCall(method, options);
    }
    const waitForReady = options.waitForReady === true;
    return startRetryingCall({
      method,
      options,
      first: tunnel ?? ((signal) => this.usable(signal)),
      // With waitForReady a refused call waits for another usable tunnel (within its deadline).
      another: (refusing, signal) => this.another(refusing) ?? (waitForReady ? this.usable(signal) : undefined),
      budget: this.replay,
      maxRetries: waitForReady ? Number.POSITIVE_INFINITY : 1,
    });
  }

  /** The next usable tunnel round-robin that is not `refusing`. */
  private another(refusing: CallChannel): TunnelChannel | undefined {
    const candidates = this.registry.list(this.selector).length;
    for (let tried = 0; tried < candidates; tried++) {
      const tunnel = this.registry.pick(this.selector);
      if (tunnel !== undefined && tunnel !== refusing) {
        return tunnel;
      }
    }
    return undefined;
  }

  /** A usable tunnel, once there is one. */
  private async usable(signal: AbortSignal): Promise<TunnelChannel> {
    for (;;) {
      await this.registry.waitFor(this.selector, signal);
      const tunnel = this.registry.pick(this.selector);
      if (tunnel !== undefined) {
        return tunnel;
      }
    }
  }

  private noTunnel(): string {
    const missing = this.selector.all ? "no reverse tunnels are open" : `no reverse tunnel for key ${describeKey(this.selector.key)}`;
    const why = this.explain();
    return why === undefined ? missing : `${missing}: ${why}`;
  }
}

/** A key as messages show it. */
export function describeKey(key: unknown): string {
  if (typeof key === "string") {
    return JSON.stringify(key);
  }
  if (typeof key === "bigint") {
    return `${key}n`;
  }
  if (typeof key === "object" && key !== null) {
    try {
      return JSON.stringify(key);
    } catch {
      return Object.prototype.toString.call(key);
    }
  }
  return String(key);
}

import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import type { CallStream } from "./call-stream.js";
import type { ReverseTunnelRegistry, TunnelSelector } from "./reverse-registry.js";
import type { TunnelChannel } from "./tunnel-channel.js";

/**
 * Calls over the reverse tunnels a server holds, spread round-robin over the
 * matching tunnels (Go's `ReverseClientConnInterface`).
 */
export interface ReverseChannel extends CallChannel {
  /** True when at least one matching reverse tunnel is open. */
  ready(): boolean;
  /** Resolves once a matching tunnel is open; rejects when `signal` aborts first. */
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

export class RoundRobinChannel<K> implements ReverseChannel {
  constructor(
    private readonly registry: ReverseTunnelRegistry<K>,
    private readonly selector: TunnelSelector<K>,
    /** Why no tunnel may match besides none being open (e.g. no affinityKey option), if known. */
    private readonly explain: () => string | undefined = () => undefined,
  ) {}

  ready(): boolean {
    return this.registry.list(this.selector).length > 0;
  }

  async waitForReady(options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.registry.waitFor(this.selector, options.signal);
    } catch (e) {
      throw TunnelError.from(e, Code.CANCELLED);
    }
  }

  startCall(method: string, options?: CallOptions): CallStream {
    const tunnel = this.registry.pick(this.selector);
    if (tunnel === undefined) {
      const missing = this.selector.all ? "no reverse tunnels are open" : `no reverse tunnel for key ${describeKey(this.selector.key)}`;
      const why = this.explain();
      throw new TunnelError(Code.UNAVAILABLE, why === undefined ? missing : `${missing}: ${why}`);
    }
    return tunnel.startCall(method, options);
  }
}

function describeKey(key: unknown): string {
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

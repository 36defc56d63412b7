import type { TunnelCaller } from "./tunnel-setup.js";

/** Options of `forwardedForKey`. */
export interface ForwardedForOptions {
  /** The header the trusted proxies append the client's address to; default "x-forwarded-for". */
  header?: string;
  /**
   * How many trusted proxies stand in front of this server, each appending
   * the address it received the request from; default 1 (e.g. one Envoy
   * with `use_remote_address`). The key is the address the outermost
   * trusted proxy appended; entries left of it may be forged by the client.
   */
  trustedHops?: number;
}

/**
 * A `budgetKey` for a TunnelServiceHandler behind trusted proxies that
 * share one connection among many clients: keys the per-connection limits
 * by the client address the proxies forward, so one client can no longer
 * use up the limits of all. A tunnel RPC without the header (or with fewer
 * entries than `trustedHops`) is kept by its connection, as by default.
 * Use only when every request reaches this server through those proxies:
 * a client that connects directly could name any address.
 */
export function forwardedForKey(options: ForwardedForOptions = {}): (caller: TunnelCaller) => string | undefined {
  const header = (options.header ?? "x-forwarded-for").toLowerCase();
  const hops = options.trustedHops ?? 1;
  if (!Number.isInteger(hops) || hops < 1) {
    throw new RangeError(`trustedHops must be an integer >= 1 (got ${hops})`);
  }
  return (caller) => {
    const entries = caller.metadata
      .get(header)
      .flatMap((value) => (typeof value === "string" ? value.split(",") : []))
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "");
    const client = entries[entries.length - hops];
    return client === undefined ? undefined : `${header} ${client}`;
  };
}

import type { Registry } from "@bufbuild/protobuf";
import { DEFAULT_LIMITS } from "../engine/limits.js";
import type { GatewayAuthorizer, GatewayCall } from "./gateway-call.js";

/** Options of `createTunnelGateway`. */
export interface TunnelGatewayOptions {
  /**
   * Who may reach which agent: required, so that no gateway exposes every
   * agent to every caller by accident. Pass `allowAll` to opt out (development).
   */
  authorize: GatewayAuthorizer;
  /**
   * The request header naming the affinity key; default "tunnel-key". It is
   * removed before the agent sees the call (also when `key` is given).
   */
  keyHeader?: string;
  /**
   * The affinity key of a call, when it is not simply the `keyHeader`
   * value: e.g. from a path prefix or the caller's identity. Undefined (or
   * an empty string) means the call names no key: INVALID_ARGUMENT.
   */
  key?: (call: GatewayCall) => string | undefined;
  /**
   * The request header that asks to wait for the agent (gRPC's
   * `waitForReady`): "true" waits, within the call's deadline, for a tunnel
   * for the key to appear instead of failing with UNAVAILABLE; default
   * "tunnel-wait-for-ready". Removed before the agent sees the call.
   */
  waitForReadyHeader?: string;
  /** Wait for the agent when a call does not say (the header above); default false. */
  waitForReady?: boolean;
  /**
   * Request headers never forwarded to agents (lower case), e.g.
   * "authorization" or "cookie" when they are meant for the gateway only.
   */
  dropHeaders?: readonly string[];
  /**
   * Largest request message accepted, in bytes; larger ones fail with
   * RESOURCE_EXHAUSTED before they are buffered. Default: the tunnels'
   * `maxReceiveMessageBytes` default, 4 MiB.
   */
  maxMessageBytes?: number;
  /**
   * Message types for JSON (Connect and gRPC-Web with JSON, curl): a
   * protobuf-es registry with the agents' services. Without it the gateway
   * asks the agent of the call's key for them through its tunnel (gRPC server
   * reflection, see `serveReflection`), and keeps them `descriptorCacheMs`.
   */
  descriptors?: Registry;
  /** How long descriptors learned by reflection are reused, per key; default 60,000 ms. */
  descriptorCacheMs?: number;
  /** How long a health check of a key may take when the caller set no deadline; default 5,000 ms. */
  healthCheckTimeoutMs?: number;
}

/** The options with their defaults. */
export interface ResolvedGatewayOptions extends Required<Omit<TunnelGatewayOptions, "key" | "descriptors">> {
  key: TunnelGatewayOptions["key"];
  descriptors: Registry | undefined;
}

export const DEFAULT_KEY_HEADER = "tunnel-key";
export const DEFAULT_WAIT_FOR_READY_HEADER = "tunnel-wait-for-ready";

/** Checks the options (TypeError, RangeError) and applies the defaults. */
export function resolveGatewayOptions(options: TunnelGatewayOptions): ResolvedGatewayOptions {
  if (typeof options?.authorize !== "function") {
    throw new TypeError(
      "createTunnelGateway: the authorize option is required (a function (call, key) => boolean); pass allowAll to let every caller reach every agent",
    );
  }
  const resolved: ResolvedGatewayOptions = {
    authorize: options.authorize,
    keyHeader: headerName("keyHeader", options.keyHeader ?? DEFAULT_KEY_HEADER),
    key: options.key,
    waitForReadyHeader: headerName("waitForReadyHeader", options.waitForReadyHeader ?? DEFAULT_WAIT_FOR_READY_HEADER),
    waitForReady: options.waitForReady ?? false,
    dropHeaders: (options.dropHeaders ?? []).map((name) => headerName("dropHeaders", name)),
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_LIMITS.maxReceiveMessageBytes,
    descriptors: options.descriptors,
    descriptorCacheMs: options.descriptorCacheMs ?? 60_000,
    healthCheckTimeoutMs: options.healthCheckTimeoutMs ?? 5_000,
  };
  for (const name of ["maxMessageBytes", "healthCheckTimeoutMs"] as const) {
    if (!(Number.isInteger(resolved[name]) && resolved[name] >= 1)) {
      throw new RangeError(`createTunnelGateway: ${name} must be a whole number >= 1 (got ${resolved[name]})`);
    }
  }
  if (!(Number.isInteger(resolved.descriptorCacheMs) && resolved.descriptorCacheMs >= 0)) {
    throw new RangeError(`createTunnelGateway: descriptorCacheMs must be a whole number >= 0 (got ${resolved.descriptorCacheMs})`);
  }
  return resolved;
}

function headerName(option: string, name: string): string {
  if (typeof name !== "string" || !/^[0-9a-z_.-]+$/.test(name) || name.endsWith("-bin")) {
    throw new TypeError(`createTunnelGateway: ${option} must be a lower-case header name, not a -bin one (got ${JSON.stringify(name)})`);
  }
  return name;
}

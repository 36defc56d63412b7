import type { Metadata } from "@grpc/grpc-js";
import { toMetadata } from "../../metadata.js";
import type { Interceptor } from "../interceptors/index.js";
import type { HedgingPolicy, RetryPolicy } from "../retry/index.js";
import type { CallOptions } from "./call-options.js";

/**
 * Options of a client as a whole: what every generated factory
 * (`fooServiceClientForKey(handler, key, options)`, ...), every generated
 * client's constructor and `createTunnelClient` take.
 *
 * ```ts
 * const camera = fooServiceClientForKey(handler, "camera-3", {
 *   interceptors: [authToken(token)],
 *   defaultCallOptions: { timeoutMs: 2_000, waitForReady: true },
 *   retry: { maxAttempts: 3 },
 * });
 * ```
 */
export interface TunnelClientOptions {
  /** Wrap every typed call of the client; the first is outermost (as `withInterceptors`). */
  interceptors?: readonly Interceptor[];
  /**
   * Options of every call, merged with each call's own (see
   * `mergeCallOptions` for the exact rule: an option given on the call wins,
   * metadata merges key by key, signals and callbacks both apply).
   */
  defaultCallOptions?: CallOptions;
  /**
   * Retry failed calls of methods whose proto says they are safe to repeat
   * (`idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT); never any other
   * method. `true` uses the defaults of RetryPolicy. Off by default.
   */
  retry?: boolean | RetryPolicy;
  /**
   * Hedge calls of the same methods: start the call on a second tunnel of
   * the key when the first has not answered after a delay, and keep the
   * first answer. Off by default; not together with `retry`.
   */
  hedging?: HedgingPolicy;
}

/**
 * A call's options on top of a client's defaults. An option set on the call
 * (not undefined) replaces the default, except:
 *
 * - `metadata`: merged key by key; a key the call sets replaces all of the
 *   default's values for that key, the default's other keys are kept;
 * - `timeoutMs` and `deadline` are one setting, the call's time limit: if the
 *   call sets either, neither default applies;
 * - `signal`: both apply (either aborting cancels the call);
 * - `onHeader`, `onTrailer`, `onTunnel`: both run, the default's first.
 */
export function mergeCallOptions(defaults: CallOptions | undefined, call: CallOptions | undefined): CallOptions {
  if (defaults === undefined) {
    return call ?? {};
  }
  if (call === undefined) {
    return defaults;
  }
  const merged: CallOptions = { ...defaults };
  for (const [name, value] of Object.entries(call) as [keyof CallOptions, unknown][]) {
    if (value !== undefined) {
      (merged as Record<string, unknown>)[name] = value;
    }
  }
  if (call.timeoutMs !== undefined || call.deadline !== undefined) {
    merged.timeoutMs = call.timeoutMs;
    merged.deadline = call.deadline;
  }
  if (defaults.metadata !== undefined && call.metadata !== undefined) {
    merged.metadata = mergeMetadata(toMetadata(defaults.metadata), toMetadata(call.metadata));
  }
  merged.signal = bothSignals(defaults.signal, call.signal);
  merged.onHeader = bothCallbacks(defaults.onHeader, call.onHeader);
  merged.onTrailer = bothCallbacks(defaults.onTrailer, call.onTrailer);
  merged.onTunnel = bothCallbacks(defaults.onTunnel, call.onTunnel);
  return merged;
}

/** `base` with every key of `over` replaced by `over`'s values. */
function mergeMetadata(base: Metadata, over: Metadata): Metadata {
  for (const key of Object.keys(over.getMap())) {
    base.remove(key);
    for (const value of over.get(key)) {
      base.add(key, value);
    }
  }
  return base;
}

function bothSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined || b === undefined || a === b) {
    return b ?? a;
  }
  return AbortSignal.any([a, b]);
}

function bothCallbacks<T>(
  first: ((value: T) => void) | undefined,
  second: ((value: T) => void) | undefined,
): ((value: T) => void) | undefined {
  if (first === undefined || second === undefined) {
    return second ?? first;
  }
  return (value) => {
    first(value);
    second(value);
  };
}

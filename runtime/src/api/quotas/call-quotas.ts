import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { callThrottledChannel } from "../../diagnostics/channels.js";
import type { QuotaScope } from "../../diagnostics/events.js";
import { TunnelError } from "../../errors.js";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { toMetadata, type MetadataInit } from "../../metadata.js";
import { describeKey } from "../reverse/index.js";
import { TokenBuckets } from "./token-buckets.js";

/** A limit on calls (and optionally message bytes) per second, as a token bucket. */
export interface RateLimit {
  /** Calls per second, sustained. */
  callsPerSecond: number;
  /** Calls allowed at once above the rate (the bucket's size); default `callsPerSecond`, at least 1. */
  burst?: number;
  /**
   * Message bytes per second, requests and responses together. Bytes are
   * counted as they pass, so a call is never cut short: new calls are
   * refused while the bytes budget is spent, until it refills.
   */
  bytesPerSecond?: number;
  /** Bytes allowed at once above `bytesPerSecond`; default `bytesPerSecond`. */
  burstBytes?: number;
}

/** Options of the `quotas` option of a TunnelServiceHandler. */
export interface CallQuotaOptions {
  /** The limit of each affinity key: calls to one agent (all its tunnels), whoever makes them. */
  perKey?: RateLimit;
  /** The limit of each caller (see `callerOf`), whatever keys it calls. */
  perCaller?: RateLimit;
  /**
   * Who makes a call, from its request metadata (e.g. an identity an
   * authenticating interceptor or the gateway put there). Calls without
   * one count against their key only. Default: no caller identities.
   */
  callerOf?: (metadata: Metadata) => string | undefined;
  /** Buckets kept at most per limit (least recently used forgotten first); default 10,000. */
  maxTracked?: number;
}

const DEFAULT_MAX_TRACKED = 10_000;

/** The buckets of one limit. */
interface Limiter {
  readonly scope: QuotaScope;
  readonly limit: RateLimit;
  readonly calls: TokenBuckets;
  readonly bytes: TokenBuckets | undefined;
}

/** A throttled call's error: RESOURCE_EXHAUSTED with a RetryInfo; final (never routed elsewhere). */
export class QuotaExceededError extends TunnelError {}

/**
 * Token buckets per affinity key and per caller. `admit` is asked once per
 * call started; a call over a limit is refused with RESOURCE_EXHAUSTED and a
 * `google.rpc.RetryInfo` saying when to try again, and published on the
 * `grpctunnel:call:throttled` diagnostics channel (tunnelMetrics counts it).
 */
export class CallQuotas {
  private readonly limiters: Limiter[] = [];
  private readonly callerOf: ((metadata: Metadata) => string | undefined) | undefined;

  constructor(options: CallQuotaOptions) {
    const maxTracked = options.maxTracked ?? DEFAULT_MAX_TRACKED;
    if (!(Number.isInteger(maxTracked) && maxTracked >= 1)) {
      throw new RangeError(`quotas.maxTracked must be an integer >= 1 (got ${maxTracked})`);
    }
    for (const [scope, limit] of [
      ["key", options.perKey],
      ["caller", options.perCaller],
    ] as const) {
      if (limit !== undefined) {
        this.limiters.push(limiter(scope, limit, maxTracked));
      }
    }
    this.callerOf = options.callerOf;
  }

  /** Buckets held now, for all limits together (bounded by maxTracked per limit and unit). */
  get tracked(): number {
    return this.limiters.reduce((n, l) => n + l.calls.size + (l.bytes?.size ?? 0), 0);
  }

  /** Whether counting bytes is needed: some limit has `bytesPerSecond`. */
  get countsBytes(): boolean {
    return this.limiters.some((l) => l.bytes !== undefined);
  }

  /**
   * Checks one call about to start for `key`: takes a token from each
   * bucket it counts against and returns the names to charge its bytes to,
   * or throws a QuotaExceededError (taking nothing) when one is empty.
   */
  admit(key: unknown, method: string, metadata: MetadataInit | undefined): ChargedNames {
    const now = performance.now();
    const caller = this.caller(metadata);
    const names = { key: describeKey(key), caller };
    for (const l of this.limiters) {
      const name = names[l.scope];
      if (name === undefined) {
        continue;
      }
      const callWait = l.calls.take(name, 1, now, false);
      const bytesWait = l.bytes?.take(name, 1, now, false) ?? 0;
      if (callWait > 0 || bytesWait > 0) {
        const unit = callWait >= bytesWait ? "calls" : "bytes";
        throw this.throttled(l, unit, Math.max(callWait, bytesWait), key, caller, method);
      }
    }
    for (const l of this.limiters) {
      const name = names[l.scope];
      if (name !== undefined) {
        l.calls.take(name, 1, now);
      }
    }
    return names;
  }

  /** Charges message bytes of an admitted call to its buckets. */
  chargeBytes(names: ChargedNames, bytes: number): void {
    const now = performance.now();
    for (const l of this.limiters) {
      const name = names[l.scope];
      if (name !== undefined) {
        l.bytes?.charge(name, bytes, now);
      }
    }
  }

  private caller(metadata: MetadataInit | undefined): string | undefined {
    if (this.callerOf === undefined || metadata === undefined) {
      return undefined;
    }
    try {
      const caller = this.callerOf(metadata instanceof Metadata ? metadata : toMetadata(metadata));
      return typeof caller === "string" ? caller : undefined;
    } catch {
      return undefined; // a formatter's failure must not fail the call; it counts against its key only
    }
  }

  private throttled(l: Limiter, unit: "calls" | "bytes", retryAfterMs: number, key: unknown, caller: string | undefined, method: string) {
    const rate = unit === "calls" ? `${l.limit.callsPerSecond} calls/s` : `${l.limit.bytesPerSecond} bytes/s`;
    const who = l.scope === "key" ? `key ${describeKey(key)}` : `caller ${JSON.stringify(caller)}`;
    const delay = create(DurationSchema, {
      seconds: BigInt(Math.floor(retryAfterMs / 1000)),
      nanos: (retryAfterMs % 1000) * 1_000_000,
    });
    const error = new QuotaExceededError(Code.RESOURCE_EXHAUSTED, `quota exceeded for ${who} (${rate}); retry in ${retryAfterMs} ms`, {
      details: [anyPack(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: delay }))],
    });
    if (callThrottledChannel.hasSubscribers) {
      callThrottledChannel.publish({ key, caller, method, scope: l.scope, unit, retryAfterMs });
    }
    return error;
  }
}

/** The bucket names an admitted call counts against. */
export interface ChargedNames {
  readonly key: string;
  readonly caller: string | undefined;
}

function limiter(scope: QuotaScope, limit: RateLimit, maxTracked: number): Limiter {
  const what = `quotas.per${scope === "key" ? "Key" : "Caller"}`;
  const calls = positive(limit.callsPerSecond, `${what}.callsPerSecond`);
  const burst = limit.burst ?? Math.max(1, calls);
  if (!(Number.isFinite(burst) && burst >= 1)) {
    throw new RangeError(`${what}.burst must be a finite number >= 1 (got ${burst})`);
  }
  let bytes: TokenBuckets | undefined;
  if (limit.bytesPerSecond !== undefined) {
    const perSecond = positive(limit.bytesPerSecond, `${what}.bytesPerSecond`);
    bytes = new TokenBuckets({ perSecond, burst: positive(limit.burstBytes ?? perSecond, `${what}.burstBytes`) }, maxTracked);
  }
  return { scope, limit, calls: new TokenBuckets({ perSecond: calls, burst }, maxTracked), bytes };
}

function positive(value: number, name: string): number {
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${name} must be a finite number > 0 (got ${value})`);
  }
  return value;
}

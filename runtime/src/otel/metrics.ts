import { metrics, type Attributes, type BatchObservableResult, type MeterProvider } from "@opentelemetry/api";
import { subscribeDiagnostics } from "../diagnostics/channels.js";
import type { CallInfo, TunnelInfo } from "../diagnostics/events.js";
import { rpcAttributes, splitMethodPath } from "./rpc-attributes.js";
import { INSTRUMENTATION_NAME } from "./tracing.js";

/** Options of `tunnelMetrics`. */
export interface TunnelMetricsOptions {
  /** Where the instruments are made; the globally registered provider by default. */
  meterProvider?: MeterProvider;
}

/** Metrics being recorded; `stop()` unsubscribes, and the per-call figures are no longer reported. */
export interface TunnelMetrics {
  /** Unsubscribes from the diagnostics channels and stops reporting the per-call figures. */
  stop(): void;
}

/** Bucket boundaries in seconds, those the RPC semantic conventions advise for call durations. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * Records metrics of every tunnel in this process from the diagnostics
 * channels (nothing is recorded for events before this call):
 *
 * | instrument | kind | unit | attributes |
 * |---|---|---|---|
 * | `grpctunnel.tunnels.open` | up-down counter | `{tunnel}` | `grpctunnel.role`, `grpctunnel.direction` |
 * | `grpctunnel.calls.active` | observable up-down counter | `{call}` | role, `rpc.system`, `rpc.service`, `rpc.method` |
 * | `grpctunnel.calls` | observable counter | `{call}` | the same and `rpc.grpc.status_code` |
 * | `grpctunnel.call.duration` | histogram | `s` | the same as `grpctunnel.calls` |
 * | `grpctunnel.call.sent_bytes`, `grpctunnel.call.received_bytes` | observable counter | `By` | role and `rpc.*` (counted when a call ends) |
 * | `grpctunnel.calls.throttled` | counter | `{call}` | `grpctunnel.quota.scope` (`key`, `caller`), `grpctunnel.quota.unit` (`calls`, `bytes`), `rpc.*` |
 * | `grpctunnel.directory.removals.dropped` | counter | `{key}` | `grpctunnel.replica_id` |
 *
 * The last counts, in cluster mode, the removals a replica's directory
 * dropped while Redis could not be written (their entries end with their
 * leases). The role is `client` for calls this process made and `server` for calls
 * it served, so one process can record both ends of a tunnel. The names are
 * the runtime's own, not `rpc.client.*`: a grpc-js instrumentation may
 * already report the tunnel RPC itself under those.
 */
export function tunnelMetrics(options: TunnelMetricsOptions = {}): TunnelMetrics {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME);
  const openTunnels = meter.createUpDownCounter("grpctunnel.tunnels.open", { unit: "{tunnel}", description: "Tunnels open now" });
  const duration = meter.createHistogram("grpctunnel.call.duration", {
    unit: "s",
    description: "Duration of tunneled calls",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  // Per-call figures are plain numbers here, reported when the SDK collects:
  // recording each one through the SDK would cost more than the call.
  const activeCalls = meter.createObservableUpDownCounter("grpctunnel.calls.active", {
    unit: "{call}",
    description: "Tunneled calls running now",
  });
  const calls = meter.createObservableCounter("grpctunnel.calls", {
    unit: "{call}",
    description: "Tunneled calls that ended, by status code",
  });
  const sentBytes = meter.createObservableCounter("grpctunnel.call.sent_bytes", {
    unit: "By",
    description: "Message bytes sent on tunneled calls",
  });
  const receivedBytes = meter.createObservableCounter("grpctunnel.call.received_bytes", {
    unit: "By",
    description: "Message bytes received on tunneled calls",
  });

  const throttled = meter.createCounter("grpctunnel.calls.throttled", {
    unit: "{call}",
    description: "Calls refused by a quota (RESOURCE_EXHAUSTED)",
  });
  const throttledAttributes = new Map<string, Attributes>();

  const droppedRemovals = meter.createCounter("grpctunnel.directory.removals.dropped", {
    unit: "{key}",
    description: "Removals a cluster directory dropped while Redis could not be written",
  });

  const totals = new CallTotals();
  const observe = (observer: BatchObservableResult) => {
    for (const method of totals.all()) {
      observer.observe(activeCalls, method.active, method.attributes);
      observer.observe(sentBytes, method.sent, method.attributes);
      observer.observe(receivedBytes, method.received, method.attributes);
      for (const ended of method.byCode.values()) {
        observer.observe(calls, ended.count, ended.attributes);
      }
    }
  };
  meter.addBatchObservableCallback(observe, [activeCalls, calls, sentBytes, receivedBytes]);

  // Only what was seen starting is counted down: metrics enabled mid-call stay consistent.
  const openSeen = new WeakSet<TunnelInfo>();
  const callsSeen = new WeakSet<CallInfo>();
  const tunnelAttributes = new Map<string, Attributes>();
  const tunnelAttributesOf = (tunnel: TunnelInfo) => {
    const key = `${tunnel.role} ${tunnel.direction}`;
    let found = tunnelAttributes.get(key);
    if (found === undefined) {
      found = { "grpctunnel.role": tunnel.role, "grpctunnel.direction": tunnel.direction };
      tunnelAttributes.set(key, found);
    }
    return found;
  };

  const unsubscribe = subscribeDiagnostics({
    tunnelOpen: ({ tunnel }) => {
      openSeen.add(tunnel);
      openTunnels.add(1, tunnelAttributesOf(tunnel));
    },
    tunnelClose: ({ tunnel }) => {
      if (openSeen.delete(tunnel)) {
        openTunnels.add(-1, tunnelAttributesOf(tunnel));
      }
    },
    callStart: ({ call }) => {
      callsSeen.add(call);
      totals.of(call).active++;
    },
    callEnd: ({ call, code, durationMs, bytesSent, bytesReceived }) => {
      const method = totals.of(call);
      if (callsSeen.delete(call)) {
        method.active--;
      }
      method.sent += bytesSent;
      method.received += bytesReceived;
      const ended = method.ended(code);
      ended.count++;
      duration.record(durationMs / 1000, ended.attributes);
    },
    callThrottled: ({ method, scope, unit }) => {
      const key = `${scope} ${unit} ${method}`;
      let attributes = throttledAttributes.get(key);
      if (attributes === undefined) {
        attributes = { "grpctunnel.quota.scope": scope, "grpctunnel.quota.unit": unit, ...rpcAttributes(...splitMethodPath(method)) };
        throttledAttributes.set(key, attributes);
      }
      throttled.add(1, attributes);
    },
    directoryRemovalsDropped: ({ replicaId, dropped }) => {
      droppedRemovals.add(dropped, { "grpctunnel.replica_id": replicaId });
    },
  });
  return {
    stop() {
      unsubscribe();
      meter.removeBatchObservableCallback(observe, [activeCalls, calls, sentBytes, receivedBytes]);
    },
  };
}

/** The figures of one method on one side, with their attribute sets (made once). */
class MethodTotals {
  active = 0;
  sent = 0;
  received = 0;
  readonly byCode = new Map<number, { attributes: Attributes; count: number }>();

  constructor(readonly attributes: Attributes) {}

  ended(code: number): { attributes: Attributes; count: number } {
    let found = this.byCode.get(code);
    if (found === undefined) {
      found = { attributes: { ...this.attributes, "rpc.grpc.status_code": code }, count: 0 };
      this.byCode.set(code, found);
    }
    return found;
  }
}

/** MethodTotals by side and method. */
class CallTotals {
  private readonly bySide = { client: new Map<string, MethodTotals>(), server: new Map<string, MethodTotals>() };

  of(call: CallInfo): MethodTotals {
    const methods = this.bySide[call.role];
    let found = methods.get(call.method);
    if (found === undefined) {
      found = new MethodTotals({ "grpctunnel.role": call.role, ...rpcAttributes(...splitMethodPath(call.method)) });
      methods.set(call.method, found);
    }
    return found;
  }

  *all(): Iterable<MethodTotals> {
    yield* this.bySide.client.values();
    yield* this.bySide.server.values();
  }
}

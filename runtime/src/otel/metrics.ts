import { metrics, type Attributes, type MeterProvider } from "@opentelemetry/api";
import { subscribeDiagnostics } from "../diagnostics/channels.js";
import type { CallInfo, TunnelInfo } from "../diagnostics/events.js";
import { rpcAttributes, splitMethodPath } from "./rpc-attributes.js";
import { INSTRUMENTATION_NAME } from "./tracing.js";

export interface TunnelMetricsOptions {
  /** Where the instruments are made; the globally registered provider by default. */
  meterProvider?: MeterProvider;
}

/** Metrics being recorded; `stop()` unsubscribes (the instruments keep their last values). */
export interface TunnelMetrics {
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
 * | `grpctunnel.calls.active` | up-down counter | `{call}` | role, `rpc.system`, `rpc.service`, `rpc.method` |
 * | `grpctunnel.calls` | counter | `{call}` | the same and `rpc.grpc.status_code` |
 * | `grpctunnel.call.duration` | histogram | `s` | the same as `grpctunnel.calls` |
 * | `grpctunnel.call.sent_bytes`, `grpctunnel.call.received_bytes` | counter | `By` | role and `rpc.*` (counted when a call ends) |
 *
 * The role is `client` for calls this process made and `server` for calls
 * it served, so one process can record both ends of a tunnel. The names are
 * the runtime's own, not `rpc.client.*`: a grpc-js instrumentation may
 * already report the tunnel RPC itself under those.
 */
export function tunnelMetrics(options: TunnelMetricsOptions = {}): TunnelMetrics {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_NAME);
  const openTunnels = meter.createUpDownCounter("grpctunnel.tunnels.open", { unit: "{tunnel}", description: "Tunnels open now" });
  const activeCalls = meter.createUpDownCounter("grpctunnel.calls.active", { unit: "{call}", description: "Tunneled calls running now" });
  const calls = meter.createCounter("grpctunnel.calls", { unit: "{call}", description: "Tunneled calls that ended, by status code" });
  const duration = meter.createHistogram("grpctunnel.call.duration", {
    unit: "s",
    description: "Duration of tunneled calls",
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const sentBytes = meter.createCounter("grpctunnel.call.sent_bytes", { unit: "By", description: "Message bytes sent on tunneled calls" });
  const receivedBytes = meter.createCounter("grpctunnel.call.received_bytes", {
    unit: "By",
    description: "Message bytes received on tunneled calls",
  });

  // Only what was seen starting is counted down: metrics enabled mid-call stay consistent.
  const openSeen = new WeakSet<TunnelInfo>();
  const callsSeen = new WeakSet<CallInfo>();
  const attributes = new AttributeCache();

  const unsubscribe = subscribeDiagnostics({
    tunnelOpen: ({ tunnel }) => {
      openSeen.add(tunnel);
      openTunnels.add(1, attributes.tunnel(tunnel));
    },
    tunnelClose: ({ tunnel }) => {
      if (openSeen.delete(tunnel)) {
        openTunnels.add(-1, attributes.tunnel(tunnel));
      }
    },
    callStart: ({ call }) => {
      callsSeen.add(call);
      activeCalls.add(1, attributes.call(call));
    },
    callEnd: ({ call, code, durationMs, bytesSent, bytesReceived }) => {
      const base = attributes.call(call);
      if (callsSeen.delete(call)) {
        activeCalls.add(-1, base);
      }
      const withCode = attributes.callWithCode(call, code);
      calls.add(1, withCode);
      duration.record(durationMs / 1000, withCode);
      sentBytes.add(bytesSent, base);
      receivedBytes.add(bytesReceived, base);
    },
  });
  return { stop: unsubscribe };
}

/** Attribute sets by role, method and code, made once: calls reuse them. */
class AttributeCache {
  private readonly cache = new Map<string, Attributes>();

  tunnel(tunnel: TunnelInfo): Attributes {
    return this.get(`t ${tunnel.role} ${tunnel.direction}`, () => ({
      "grpctunnel.role": tunnel.role,
      "grpctunnel.direction": tunnel.direction,
    }));
  }

  call(call: CallInfo): Attributes {
    return this.get(`c ${call.role} ${call.method}`, () => ({
      "grpctunnel.role": call.role,
      ...rpcAttributes(...splitMethodPath(call.method)),
    }));
  }

  callWithCode(call: CallInfo, code: number): Attributes {
    return this.get(`c ${call.role} ${call.method} ${code}`, () => ({ ...this.call(call), "rpc.grpc.status_code": code }));
  }

  private get(key: string, make: () => Attributes): Attributes {
    let found = this.cache.get(key);
    if (found === undefined) {
      found = make();
      this.cache.set(key, found);
    }
    return found;
  }
}

import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator, type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { subscribeDiagnostics } from "@protoc-gen-tunnel/runtime";
import { clientTracing, serverTracing, tunnelMetrics } from "@protoc-gen-tunnel/runtime/otel";
import type * as grpc from "@grpc/grpc-js";
import { grpcClientTracing, grpcServerTracing } from "./grpc-tracing.js";
import type { Interceptors } from "./fixtures.js";

// What the instrumentation workload switches on: a diagnostics subscriber,
// or OpenTelemetry as an application would run it (batched spans, metrics
// aggregated for a periodic export, AsyncLocalStorage context). Exporters
// discard what they get: exporting is the backend's cost, not the tunnel's.

/** Subscribes to every diagnostics channel with a listener that only counts; returns the unsubscribe. */
export function countingSubscriber(): { events: () => number; stop(): void } {
  let events = 0;
  const count = () => {
    events++;
  };
  const stop = subscribeDiagnostics({ tunnelOpen: count, tunnelClose: count, callStart: count, callEnd: count });
  return { events: () => events, stop };
}

class DiscardingSpanExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

class DiscardingMetricExporter implements PushMetricExporter {
  export(_metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** The SDK providers and the interceptors that trace with them; the `enable…` functions switch parts on for one sample. */
export interface OpenTelemetrySetup {
  interceptors: Interceptors;
  /** The control: plain grpc-js traced with the same SDK setup (see grpc-tracing.ts). */
  grpcInterceptors: { client: grpc.Interceptor; server: grpc.ServerInterceptor };
  /**
   * Registers the AsyncLocalStorage context manager (what any OpenTelemetry
   * application on Node runs, whatever it instruments); the returned
   * function unregisters it.
   */
  enableContext(): () => void;
  /** Starts recording `tunnelMetrics`; the returned function stops it. */
  enableMetrics(): () => void;
  shutdown(): Promise<void>;
}

export function openTelemetry(): OpenTelemetrySetup {
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new DiscardingSpanExporter())] });
  const meterProvider = new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: new DiscardingMetricExporter(), exportIntervalMillis: 60_000 })],
  });
  const propagator = new W3CTraceContextPropagator();
  let metricsOn = false;
  const grpcOptions = { tracerProvider, propagator, meterProvider, metricsOn: () => metricsOn };
  return {
    interceptors: {
      client: [clientTracing({ tracerProvider, propagator })],
      server: [serverTracing({ tracerProvider, propagator })],
    },
    grpcInterceptors: { client: grpcClientTracing(grpcOptions), server: grpcServerTracing(grpcOptions) },
    enableContext() {
      // Only while measuring OpenTelemetry: AsyncLocalStorage's promise hooks slow every promise in the process.
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      // An application's own instrumentation (HTTP, ...) runs code in
      // contexts: AsyncLocalStorage hooks every promise from its first run on.
      context.with(context.active(), () => {});
      return () => context.disable();
    },
    enableMetrics() {
      const metrics = tunnelMetrics({ meterProvider });
      metricsOn = true;
      return () => {
        metricsOn = false;
        metrics.stop();
      };
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

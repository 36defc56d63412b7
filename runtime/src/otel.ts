// "@protoc-gen-tunnel/runtime/otel": OpenTelemetry tracing (interceptors) and
// metrics (from the diagnostics channels). Needs `@opentelemetry/api` 1.x, an
// optional peer dependency loaded only by this entry point.
export { clientTracing, serverTracing, INSTRUMENTATION_NAME, type TracingOptions } from "./otel/tracing.js";
export { tunnelMetrics, type TunnelMetrics, type TunnelMetricsOptions } from "./otel/metrics.js";

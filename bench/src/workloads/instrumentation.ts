import type { BenchClient } from "../direct-client.js";
import { startForward, startInterceptedDirect, type VariantId } from "../fixtures.js";
import { countingSubscriber, openTelemetry, type OpenTelemetrySetup } from "../instrumentation.js";
import { type Figure, figure } from "../results.js";
import { runRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { closedLoop, type LoadResult, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;

/**
 * What each sample switches on. "diagnostics" and "metrics" are
 * diagnostics-channel subscribers (a counting one; `tunnelMetrics` with no
 * context manager, as the README suggests for metrics only). From "context"
 * on each mode adds to the one before: OpenTelemetry's context manager alone
 * (what an application with OpenTelemetry pays whatever it instruments), then
 * the tracing interceptors, then the metrics too ("otel").
 */
const MODES = ["none", "diagnostics", "metrics", "context", "tracing", "otel"] as const;
type Mode = (typeof MODES)[number];

const LABELS: Record<Mode, string> = {
  none: "nothing subscribed",
  diagnostics: "diagnostics subscriber",
  metrics: "tunnelMetrics alone",
  context: "OTel context manager only",
  tracing: "OTel context + tracing",
  otel: "OpenTelemetry traces + metrics",
};

/** Switches `mode` on (traced clients are the caller's business); returns what switches it off. */
function enable(mode: Mode, otel: OpenTelemetrySetup): () => void {
  switch (mode) {
    case "none":
      return () => {};
    case "diagnostics":
      return countingSubscriber().stop;
    case "metrics":
      return otel.enableMetrics();
    case "context":
    case "tracing":
      return otel.enableContext();
    case "otel": {
      const disableContext = otel.enableContext();
      const stopMetrics = otel.enableMetrics();
      return () => {
        stopMetrics();
        disableContext();
      };
    }
  }
}

/**
 * What instrumentation costs on unary calls/s and CPU per call (32
 * callers). Each sample runs every mode back to back, in an order that
 * turns each round. Direct grpc-js is the control: the runtime does not
 * instrument it, so without tracing its ratios show the noise and, against
 * nothing, what AsyncLocalStorage costs every promise in the process; in
 * "tracing" and "otel" it is traced by grpc-js interceptors with the same
 * SDK setup (grpc-tracing.ts), i.e. what the SDK costs any traced gRPC call.
 * "OpenTelemetry ÷ context manager only" is the instrumentation's cost.
 */
export const instrumentation: Workload = {
  id: "instrumentation",
  title: `Instrumentation overhead: unary, ${PAYLOAD_BYTES} B, ${CALLERS} callers`,
  async run(ctx) {
    const otel = openTelemetry();
    const plain = await startForward(ctx.variants);
    const traced = await startForward(
      ctx.variants.filter((v) => v !== "direct"),
      { interceptors: otel.interceptors },
    );
    const tracedDirect = ctx.variants.includes("direct")
      ? await startInterceptedDirect(otel.grpcInterceptors.client, otel.grpcInterceptors.server)
      : undefined;
    const payload = payloadOf(PAYLOAD_BYTES);
    const turns = new Map<VariantId, number>();
    try {
      const samples = await runRounds(ctx, ctx.variants, async (variant) => {
        const turn = turns.get(variant) ?? 0;
        turns.set(variant, turn + 1);
        const results: Partial<Record<Mode, LoadResult>> = {};
        for (let i = 0; i < MODES.length; i++) {
          const mode = MODES[(turn + i) % MODES.length]!;
          const isTraced = mode === "tracing" || mode === "otel";
          const client: BenchClient = !isTraced
            ? plain.clients[variant]
            : variant === "direct"
              ? tracedDirect!.client
              : traced.clients[variant];
          const disable = enable(mode, otel);
          try {
            results[mode] = await closedLoop(ctx.config.sampleMs, CALLERS, () => client.unary({ payload }));
          } finally {
            disable();
          }
        }
        return results as Record<Mode, LoadResult>;
      });
      const rate = (mode: Mode): Figure =>
        figure({ id: `rate-${mode}`, label: `calls/s, ${LABELS[mode]}`, unit: "calls/s", better: "higher" }, samples, (s) => s[mode].rate);
      const cpu = (mode: Mode): Figure =>
        figure(
          { id: `cpu-${mode}`, label: `CPU µs per call, ${LABELS[mode]}`, unit: "µs", better: "lower" },
          samples,
          (s) => s[mode].cpuPerCallUs,
        );
      const ratio = (id: string, of: Mode, to: Mode): Figure =>
        figure({ id, label: `${LABELS[of]} ÷ ${LABELS[to]}`, unit: "×", better: "higher" }, samples, (s) => s[of].rate / s[to].rate);
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, callers: CALLERS },
        figures: [
          ...MODES.map(rate),
          ...MODES.map(cpu),
          ratio("diagnostics-ratio", "diagnostics", "none"),
          ratio("metrics-ratio", "metrics", "none"),
          ratio("otel-ratio", "otel", "none"),
          ratio("context-ratio", "context", "none"),
          ratio("otel-own-ratio", "otel", "context"),
          ratio("tracing-own-ratio", "tracing", "context"),
          // What the tracing interceptors and the SDK add to a call's CPU;
          // tunnel ÷ direct is the target (the SDK's own share is the same).
          figure(
            {
              id: "tracing-cpu-added",
              label: "CPU µs per call added by tracing (over the context manager only)",
              unit: "µs",
              better: "lower",
            },
            samples,
            (s) => s.tracing.cpuPerCallUs - s.context.cpuPerCallUs,
          ),
        ],
      };
    } finally {
      plain.close();
      traced.close();
      tracedDirect?.close();
      await otel.shutdown();
    }
  },
};

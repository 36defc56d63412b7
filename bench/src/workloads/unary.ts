import type { Processes } from "../fixtures.js";
import { figure } from "../results.js";
import { forwardRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { closedLoop, named, type Workload } from "./workload.js";

const PAYLOAD_BYTES = 100;

/** One caller, one call at a time: the latency a single call pays. */
export function unaryLatency(processes: Processes = 1): Workload {
  return {
    ...named("unary-latency", `Unary, ${PAYLOAD_BYTES} B, 1 caller`, processes),
    async run(ctx) {
      const payload = payloadOf(PAYLOAD_BYTES);
      const samples = await forwardRounds(ctx, processes, async (client, setup) => {
        const load = await closedLoop(ctx.config.sampleMs, 1, () => client.unary({ payload }), setup.cpuMicros);
        return { p50: load.latencies.quantile(0.5), p99: load.latencies.quantile(0.99) };
      });
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, callers: 1, processes },
        figures: [
          figure({ id: "p50", label: "latency p50", unit: "ms", better: "lower" }, samples, (s) => s.p50),
          figure({ id: "p99", label: "latency p99", unit: "ms", better: "lower" }, samples, (s) => s.p99),
        ],
      };
    },
  };
}

/** Many callers on one tunnel (one connection for direct): calls per second. */
export function unaryThroughput(callers: number, processes: Processes = 1): Workload {
  return {
    ...named(`unary-c${callers}`, `Unary, ${PAYLOAD_BYTES} B, ${callers} concurrent callers`, processes),
    async run(ctx) {
      const payload = payloadOf(PAYLOAD_BYTES);
      const samples = await forwardRounds(ctx, processes, async (client, setup) => {
        const load = await closedLoop(ctx.config.sampleMs, callers, () => client.unary({ payload }), setup.cpuMicros);
        return { rate: load.rate, cpu: load.cpuPerCallUs };
      });
      return {
        id: this.id,
        title: this.title,
        params: { payloadBytes: PAYLOAD_BYTES, callers, processes },
        figures: [
          figure({ id: "rate", label: "calls/s", unit: "calls/s", better: "higher" }, samples, (s) => s.rate),
          figure({ id: "cpu", label: "CPU per call", unit: "µs", better: "lower" }, samples, (s) => s.cpu),
        ],
      };
    },
  };
}

import type { BenchClient } from "../direct-client.js";
import type { Processes } from "../fixtures.js";
import { figure } from "../results.js";
import { forwardRounds } from "../rounds.js";
import { payloadOf, streamRequest } from "../service.js";
import { closedLoop, named, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;
const BULK_BYTES = 1024 * 1024;
const MIB = 1024 * 1024;

/** An endless server stream of 1 MiB messages, read as fast as they come, until stopped. */
async function startBulk(client: BenchClient): Promise<{ stop(): Promise<number> }> {
  const controller = new AbortController();
  let bytes = 0;
  const started = performance.now();
  const read = async (flowing: () => void) => {
    try {
      for await (const message of client.serverStream(streamRequest(BULK_BYTES, -1), {
        signal: controller.signal,
      })) {
        bytes += message.payload.length;
        flowing();
      }
    } catch (e) {
      if (!controller.signal.aborted) {
        throw e;
      }
    }
  };
  let reading!: Promise<void>;
  const firstMessage = new Promise<void>((flowing) => {
    reading = read(flowing);
  });
  await Promise.race([firstMessage, reading]);
  return {
    async stop() {
      const seconds = (performance.now() - started) / 1000;
      controller.abort();
      await reading;
      return bytes / MIB / seconds;
    },
  };
}

/**
 * 32 unary callers share one tunnel (one connection for direct) with a
 * bulk stream: their p99 with the bulk stream running, against without.
 */
export function fairness(processes: Processes = 1): Workload {
  return {
    ...named("fairness", `Fairness: ${CALLERS} unary callers beside one 1 MiB-message stream`, processes),
    async run(ctx) {
      const payload = payloadOf(PAYLOAD_BYTES);
      const samples = await forwardRounds(ctx, processes, async (client) => {
        const call = () => client.unary({ payload });
        const alone = await closedLoop(ctx.config.sampleMs, CALLERS, call);
        const bulk = await startBulk(client);
        const shared = await closedLoop(ctx.config.sampleMs, CALLERS, call);
        const bulkRate = await bulk.stop();
        const without = alone.latencies.quantile(0.99);
        const withBulk = shared.latencies.quantile(0.99);
        return { without, withBulk, slowdown: withBulk / without, bulkRate };
      });
      return {
        id: this.id,
        title: this.title,
        params: { callers: CALLERS, payloadBytes: PAYLOAD_BYTES, bulkMessageBytes: BULK_BYTES, processes },
        figures: [
          figure({ id: "p99-alone", label: "unary p99 without bulk", unit: "ms", better: "lower" }, samples, (s) => s.without),
          figure({ id: "p99-bulk", label: "unary p99 with bulk", unit: "ms", better: "lower" }, samples, (s) => s.withBulk),
          figure({ id: "slowdown", label: "p99 with ÷ without bulk", unit: "×", better: "lower" }, samples, (s) => s.slowdown),
          figure({ id: "bulk-rate", label: "bulk stream meanwhile", unit: "MiB/s", better: "higher" }, samples, (s) => s.bulkRate),
        ],
      };
    },
  };
}

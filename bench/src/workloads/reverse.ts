import { figure } from "../results.js";
import { startReverse } from "../reverse-fixtures.js";
import { runRounds } from "../rounds.js";
import { payloadOf } from "../service.js";
import { closedLoop, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;

/**
 * A hub calls its agents: 32 callers, each call to the next agent's key
 * through `keyAsChannel(key)` (direct: the hub's plain connection to it).
 */
export function reverseUnary(agents: number): Workload {
  return {
    id: "reverse-unary",
    title: `Reverse tunnels: unary via keyAsChannel, ${agents} agents, ${CALLERS} callers`,
    async run(ctx) {
      ctx.progress.note(`connecting ${agents} agents per variant`);
      const setup = await startReverse(agents, ctx.variants);
      const payload = payloadOf(PAYLOAD_BYTES);
      try {
        const samples = await runRounds(ctx, ctx.variants, async (variant) => {
          const clients = setup.clients[variant];
          let next = 0;
          const load = await closedLoop(ctx.config.sampleMs, CALLERS, () => {
            const client = clients[next++ % clients.length]!;
            return client.unary({ payload });
          });
          return { rate: load.rate, cpu: load.cpuPerCallUs };
        });
        return {
          id: this.id,
          title: this.title,
          params: { agents, callers: CALLERS, payloadBytes: PAYLOAD_BYTES },
          figures: [
            figure({ id: "rate", label: "calls/s", unit: "calls/s", better: "higher" }, samples, (s) => s.rate),
            figure({ id: "cpu", label: "CPU per call", unit: "µs", better: "lower" }, samples, (s) => s.cpu),
          ],
        };
      } finally {
        setup.close();
      }
    },
  };
}

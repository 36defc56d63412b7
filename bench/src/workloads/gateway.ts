import { startGatewaySetup, type GatewaySetup } from "../gateway-fixtures.js";
import { figure } from "../results.js";
import { runRounds } from "../rounds.js";
import { payloadOf, streamRequest } from "../service.js";
import { closedLoop, type Workload } from "./workload.js";

const CALLERS = 32;
const PAYLOAD_BYTES = 100;
const STREAM_BYTES = 64 * 1024;
const MODES = ["gateway", "keyAsChannel", "direct"] as const;
type Mode = (typeof MODES)[number];

interface Sample {
  rate: number;
  cpu: number;
  /** Server-streaming payload MiB/s, 64 KiB messages. */
  stream: number;
}

/**
 * The tunnel gateway: unary calls/s at 32 callers and a 64 KiB server
 * stream, from a plain grpc-js client through the gateway to an agent
 * (reverse tunnel, revision 1), against the same calls made with
 * `keyAsChannel` inside the control process and against direct grpc-js to
 * a plain server. Everything runs in this process; the modes take turns in
 * each round. The ratios are to direct grpc-js (gateway: the rev1 column).
 */
export const gatewayUnary: Workload = {
  id: "gateway-unary",
  title: `Tunnel gateway: unary (${CALLERS} callers) and 64 KiB streams, via the gateway vs keyAsChannel vs direct`,
  async run(ctx) {
    ctx.progress.note("starting a hub, an agent, a gateway and a plain server");
    const setup = await startGatewaySetup();
    const payload = payloadOf(PAYLOAD_BYTES);
    try {
      const samples = await runRounds<Sample, Mode>(ctx, MODES, async (mode) => {
        const client = setup[mode as keyof Omit<GatewaySetup, "close">];
        const load = await closedLoop(ctx.config.sampleMs, CALLERS, () => client.unary({ payload }));
        return { rate: load.rate, cpu: load.cpuPerCallUs, stream: await download(client, ctx.config.sampleMs) };
      });
      // The gateway in the rev1 column, keyAsChannel in figures of its own; ratios are to direct.
      const gateway = { rev1: samples.gateway, direct: samples.direct };
      const inProcess = { rev1: samples.keyAsChannel, direct: samples.direct };
      return {
        id: this.id,
        title: this.title,
        params: { callers: CALLERS, payloadBytes: PAYLOAD_BYTES, streamMessageBytes: STREAM_BYTES },
        figures: [
          figure({ id: "rate", label: "calls/s through the gateway", unit: "calls/s", better: "higher" }, gateway, (s) => s.rate),
          figure(
            { id: "rate-key-as-channel", label: "calls/s, keyAsChannel in-process", unit: "calls/s", better: "higher" },
            inProcess,
            (s) => s.rate,
          ),
          figure({ id: "cpu", label: "CPU per call through the gateway", unit: "µs", better: "lower" }, gateway, (s) => s.cpu),
          figure(
            { id: "stream-64k", label: "64 KiB server stream through the gateway", unit: "MiB/s", better: "higher" },
            gateway,
            (s) => s.stream,
          ),
        ],
      };
    } finally {
      await setup.close();
    }
  },
};

/** Reads an endless stream of 64 KiB messages for `ms`, then stops (cancelling it): payload MiB/s. */
async function download(client: GatewaySetup["direct"], ms: number): Promise<number> {
  const start = performance.now();
  let bytes = 0;
  for await (const message of client.serverStream(streamRequest(STREAM_BYTES, -1))) {
    bytes += message.payload.length;
    if (performance.now() - start >= ms) {
      break;
    }
  }
  return bytes / (1024 * 1024) / ((performance.now() - start) / 1000);
}

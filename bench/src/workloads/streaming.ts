import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MessageSchema } from "@protoc-gen-tunnel/interop";
import type { BenchClient } from "../direct-client.js";
import type { Processes } from "../fixtures.js";
import { figure } from "../results.js";
import { forwardRounds } from "../rounds.js";
import { payloadOf, streamRequest } from "../service.js";
import { named, type Workload } from "./workload.js";

const MIB = 1024 * 1024;

export function sizeLabel(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / 1024} KiB`;
}

function sizeId(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB}m` : `${bytes / 1024}k`;
}

/**
 * One call streams messages of `size` bytes as fast as the receiver takes
 * them, for one sample's time: payload MiB/s (the receiver's view).
 */
export function streamThroughput(direction: "server" | "client", size: number, processes: Processes = 1): Workload {
  return {
    ...named(
      `${direction}-stream-${sizeId(size)}`,
      `${direction === "server" ? "Server" : "Client"}-streaming, ${sizeLabel(size)} messages`,
      processes,
    ),
    async run(ctx) {
      const samples = await forwardRounds(ctx, processes, async (client, setup) => {
        const cpuBefore = await setup.cpuMicros();
        const { bytes, elapsedMs } =
          direction === "server" ? await download(client, size, ctx.config.sampleMs) : await upload(client, size, ctx.config.sampleMs);
        const cpuMs = ((await setup.cpuMicros()) - cpuBefore) / 1000;
        return { rate: bytes / MIB / (elapsedMs / 1000), cpuPerMiB: cpuMs / (bytes / MIB) };
      });
      return {
        id: this.id,
        title: this.title,
        params: { messageBytes: size, processes },
        figures: [
          figure({ id: "throughput", label: "throughput", unit: "MiB/s", better: "higher" }, samples, (s) => s.rate),
          figure({ id: "cpu", label: "CPU per MiB", unit: "ms", better: "lower" }, samples, (s) => s.cpuPerMiB),
        ],
      };
    },
  };
}

/** Reads an endless server stream for `ms`, then stops (which cancels the call). */
async function download(client: BenchClient, size: number, ms: number): Promise<{ bytes: number; elapsedMs: number }> {
  const start = performance.now();
  const end = start + ms;
  let bytes = 0;
  for await (const message of client.serverStream(streamRequest(size, -1))) {
    bytes += message.payload.length;
    if (performance.now() >= end) {
      break;
    }
  }
  return { bytes, elapsedMs: performance.now() - start };
}

/** Sends messages for `ms`, half-closes and waits for the sink's answer. */
async function upload(client: BenchClient, size: number, ms: number): Promise<{ bytes: number; elapsedMs: number }> {
  const start = performance.now();
  const end = start + ms;
  const message = { payload: payloadOf(size) };
  let sent = 0;
  async function* requests(): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
    // At least one message, however long starting the call took (a busy machine, a short sample).
    do {
      sent++;
      yield message;
    } while (performance.now() < end);
  }
  const response = await client.clientStream(requests());
  if (response.count !== sent) {
    throw new Error(`client stream: server counted ${response.count} messages, client sent ${sent}`);
  }
  return { bytes: sent * size, elapsedMs: performance.now() - start };
}

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MessageSchema } from "@protoc-gen-tunnel/interop";
import type { BenchClient } from "../direct-client.js";
import { CONTROL_LABEL, type ForwardVariantId, type Processes } from "../fixtures.js";
import { type Figure, type FigureSpec, figure } from "../results.js";
import { forwardRounds } from "../rounds.js";
import { payloadOf, streamRequest } from "../service.js";
import { named, type Workload } from "./workload.js";

const MIB = 1024 * 1024;

/**
 * Messages this large (the bulk workloads) are also measured on the
 * control, direct grpc-js given the runtime's serializer: the tunnel's typed
 * calls serialize large bytes fields with one copy, protobuf-es's toBinary
 * (what the direct variant uses, as grpc-js users do) with three buffers.
 */
const CONTROL_MIN_BYTES = 64 * 1024;

interface Sample {
  /** Payload MiB/s. */
  rate: number;
  /** CPU ms per payload MiB, both ends. */
  cpuPerMiB: number;
}

const THROUGHPUT: FigureSpec = { id: "throughput", label: "throughput", unit: "MiB/s", better: "higher" };
const CPU: FigureSpec = { id: "cpu", label: "CPU per MiB", unit: "ms", better: "lower" };

export function sizeLabel(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / 1024} KiB`;
}

function sizeId(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB}m` : `${bytes / 1024}k`;
}

/**
 * One call streams messages of `size` bytes as fast as the receiver takes
 * them, for one sample's time: payload MiB/s (the receiver's view). Bulk
 * sizes add informational figures against the control (CONTROL_MIN_BYTES).
 */
export function streamThroughput(direction: "server" | "client", size: number, processes: Processes = 1): Workload {
  return {
    ...named(
      `${direction}-stream-${sizeId(size)}`,
      `${direction === "server" ? "Server" : "Client"}-streaming, ${sizeLabel(size)} messages`,
      processes,
    ),
    async run(ctx) {
      const withControl = size >= CONTROL_MIN_BYTES && ctx.variants.includes("direct");
      const variants: ForwardVariantId[] = withControl ? [...ctx.variants, "control"] : [...ctx.variants];
      const samples: Partial<Record<ForwardVariantId, Sample[]>> = await forwardRounds(
        ctx,
        processes,
        async (client, setup): Promise<Sample> => {
          const cpuBefore = await setup.cpuMicros();
          const { bytes, elapsedMs } =
            direction === "server" ? await download(client, size, ctx.config.sampleMs) : await upload(client, size, ctx.config.sampleMs);
          const cpuMs = ((await setup.cpuMicros()) - cpuBefore) / 1000;
          return { rate: bytes / MIB / (elapsedMs / 1000), cpuPerMiB: cpuMs / (bytes / MIB) };
        },
        variants,
      );
      const { control, ...compared } = samples;
      const figures: Figure[] = [figure(THROUGHPUT, compared, (s) => s.rate), figure(CPU, compared, (s) => s.cpuPerMiB)];
      if (control !== undefined) {
        // Informational rows: the control in the direct column, so the ratios are tunnel ÷ control, round by round.
        const againstControl = { ...compared, direct: control };
        for (const [spec, value] of [
          [THROUGHPUT, (s: Sample) => s.rate],
          [CPU, (s: Sample) => s.cpuPerMiB],
        ] as const) {
          figures.push(figure({ ...spec, id: `${spec.id}-control`, label: `${spec.label}, ${CONTROL_LABEL}` }, againstControl, value));
        }
      }
      return { id: this.id, title: this.title, params: { messageBytes: size, processes }, figures };
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

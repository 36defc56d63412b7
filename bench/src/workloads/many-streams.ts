import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { VariantId } from "../fixtures.js";
import type { StreamPoint } from "../many-streams-child.js";
import { figure, type MemoryCurve } from "../results.js";
import { runRounds } from "../rounds.js";
import { median } from "../stats.js";
import type { Workload } from "./workload.js";

const CHILD = fileURLToPath(new URL("../many-streams-child.js", import.meta.url));

function sample(variant: VariantId, checkpoints: number[]): Promise<StreamPoint[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, variant, checkpoints.join(",")], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`many-streams child (${variant}) failed: ${error.message}\n${stderr}`));
        return;
      }
      resolve((JSON.parse(stdout) as { points: StreamPoint[] }).points);
    });
  });
}

/**
 * Idle server streams opened on one tunnel (one connection for direct),
 * each sample in a fresh process: memory per stream and time to open them.
 * The client end runs on the main thread and the server end in a worker
 * thread, each with its own heap; RSS covers both.
 */
export function manyStreams(checkpoints: number[]): Workload {
  const total = checkpoints[checkpoints.length - 1]!;
  const perStream = (bytes: number) => bytes / total / 1024;
  return {
    id: "many-streams",
    title: `${total.toLocaleString("en-US")} idle server streams on one tunnel`,
    async run(ctx) {
      // Each child warms itself up, so no discarded rounds here.
      const samples = await runRounds(ctx, ctx.variants, (variant) => sample(variant, checkpoints), {
        warmupRounds: 0,
        rounds: ctx.config.memoryRounds,
      });
      const last = (points: StreamPoint[]) => points[points.length - 1]!;
      const curve: MemoryCurve = { streams: checkpoints, clientHeapBytes: {}, serverHeapBytes: {}, rssBytes: {} };
      const medians = (variant: VariantId, of: (point: StreamPoint) => number) =>
        checkpoints.map((_, i) => median(samples[variant].map((points) => of(points[i]!))));
      for (const variant of ctx.variants) {
        curve.clientHeapBytes[variant] = medians(variant, (p) => p.clientHeapBytes);
        curve.serverHeapBytes[variant] = medians(variant, (p) => p.serverHeapBytes);
        curve.rssBytes[variant] = medians(variant, (p) => p.rssBytes);
      }
      return {
        id: this.id,
        title: this.title,
        params: { streams: total },
        figures: [
          figure({ id: "client-heap", label: "heap per idle stream, client end", unit: "KiB", better: "lower" }, samples, (p) =>
            perStream(last(p).clientHeapBytes),
          ),
          figure({ id: "server-heap", label: "heap per idle stream, server end", unit: "KiB", better: "lower" }, samples, (p) =>
            perStream(last(p).serverHeapBytes),
          ),
          figure({ id: "heap", label: "heap per idle stream, both ends", unit: "KiB", better: "lower" }, samples, (p) =>
            perStream(last(p).clientHeapBytes + last(p).serverHeapBytes),
          ),
          figure({ id: "rss", label: "RSS per idle stream, both ends", unit: "KiB", better: "lower" }, samples, (p) =>
            perStream(last(p).rssBytes),
          ),
          figure({ id: "open-time", label: `time to open ${total}`, unit: "ms", better: "lower" }, samples, (p) => last(p).openMs),
        ],
        curve,
      };
    },
  };
}

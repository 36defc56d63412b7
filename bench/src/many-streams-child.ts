// One sample of the memory workload, in a fresh process so that the heap
// and RSS growth belong to this variant alone (RSS never shrinks back
// reliably). The client end runs here, the server end in a worker thread.
// Usage: node many-streams-child.js <rev1|rev0|direct> <checkpoint,...>
// Prints one JSON line: memory and open time at each checkpoint.
import { setMaxListeners } from "node:events";
import { Worker } from "node:worker_threads";
import { connect, type VariantId } from "./fixtures.js";
import { fullGc } from "./gc.js";
import type { ServerReply, ServerRequest } from "./many-streams-server.js";
import { streamRequest } from "./service.js";

export interface StreamPoint {
  streams: number;
  /** Time spent opening the streams so far (until every handler ran), excluding measurements. */
  openMs: number;
  clientHeapBytes: number;
  serverHeapBytes: number;
  /** The whole process: both ends. */
  rssBytes: number;
}

const WARMUP_STREAMS = 100;

const [variant, list] = process.argv.slice(2) as [VariantId, string];
const checkpoints = list.split(",").map(Number);
const total = checkpoints[checkpoints.length - 1]!;
const limits = { maxConcurrentStreams: total + WARMUP_STREAMS };

const worker = new Worker(new URL("./many-streams-server.js", import.meta.url), {
  workerData: { maxStreams: limits.maxConcurrentStreams },
});
const pending = new Map<number, (reply: ServerReply) => void>();
let nextId = 1;
worker.on("message", (reply: ServerReply) => {
  pending.get(reply.id)?.(reply);
  pending.delete(reply.id);
});
worker.on("error", (e) => {
  process.stderr.write(`server worker failed: ${e.stack}\n`);
  process.exit(1);
});
const started = new Promise<ServerReply>((resolve) => pending.set(0, resolve));
function ask(request: ServerRequest): Promise<ServerReply> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    worker.postMessage({ ...request, id });
  });
}

const { address } = await started;
const { client } = await connect(address!, variant, limits);
await client.unary({});
const request = streamRequest(0, 0); // no responses: idle until cancelled

/** Starts one idle server stream (async generators start on the first `next`). */
function open(signal?: AbortSignal): AsyncIterator<unknown> {
  const stream = client.serverStream(request, { signal })[Symbol.asyncIterator]();
  stream.next().catch(() => {});
  return stream;
}

// Warm-up: the code paths of opening and cancelling streams, then back to none.
const warmup = new AbortController();
setMaxListeners(WARMUP_STREAMS * 2, warmup.signal);
for (let i = 0; i < WARMUP_STREAMS; i++) {
  open(warmup.signal);
}
await ask({ op: "wait", count: WARMUP_STREAMS });
warmup.abort();
await ask({ op: "wait", count: 0 });
await new Promise((resolve) => setTimeout(resolve, 20));

fullGc();
const base = process.memoryUsage();
const serverBase = await ask({ op: "memory" });
const held: Array<AsyncIterator<unknown>> = new Array(total);
const points: StreamPoint[] = [];
let opened = 0;
let openMs = 0;
for (const checkpoint of checkpoints) {
  const start = performance.now();
  for (; opened < checkpoint; opened++) {
    held[opened] = open();
  }
  await ask({ op: "wait", count: checkpoint });
  openMs += performance.now() - start;
  const server = await ask({ op: "memory" });
  fullGc();
  const now = process.memoryUsage();
  points.push({
    streams: checkpoint,
    openMs,
    clientHeapBytes: now.heapUsed - base.heapUsed,
    serverHeapBytes: server.heapUsed! - serverBase.heapUsed!,
    rssBytes: now.rss - base.rss,
  });
}
process.stdout.write(`${JSON.stringify({ variant, held: held.length, points })}\n`);
// The streams stay open to the end: exiting is the fastest way to drop thousands of them.
process.exit(0);

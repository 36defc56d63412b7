// The server end of the memory workload, in a worker thread of the sample's
// process: its own V8 heap, so client-end and server-end heap growth are
// measured apart (RSS stays one figure for the process).
import { parentPort, workerData } from "node:worker_threads";
import { startBenchServer } from "./fixtures.js";
import { fullGc } from "./gc.js";
import { idleStreams } from "./service.js";

/** What the client end asks; every request is answered with the same `id`. */
export type ServerRequest = { op: "wait"; count: number } | { op: "memory" };
export interface ServerReply {
  id: number;
  address?: string;
  heapUsed?: number;
  external?: number;
}

const port = parentPort!;
const server = await startBenchServer({ maxConcurrentStreams: (workerData as { maxStreams: number }).maxStreams });
port.postMessage({ id: 0, address: server.address } satisfies ServerReply);
port.on("message", (request: ServerRequest & { id: number }) => {
  if (request.op === "wait") {
    void idleStreams.waitFor(request.count).then(() => port.postMessage({ id: request.id } satisfies ServerReply));
  } else {
    fullGc();
    const usage = process.memoryUsage();
    port.postMessage({ id: request.id, heapUsed: usage.heapUsed, external: usage.external } satisfies ServerReply);
  }
});

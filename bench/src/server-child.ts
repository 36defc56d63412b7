// The server end of a two-process sample: the bench server (forward tunnels
// and direct grpc-js) in a process of its own, as deployed. Started by
// `startForward(…, { processes: 2 })` with an IPC channel; it reports its
// address, then answers "cpu" (its CPU time, so CPU figures cover both
// ends) and "gc" requests, and exits when the parent disconnects.
// Usage: fork("server-child.js", [JSON.stringify(limits)])
import type { TunnelLimits } from "@protoc-gen-tunnel/runtime/protocol";
import { startBenchServer } from "./fixtures.js";
import { fullGc } from "./gc.js";

export type ChildRequest = { op: "cpu" } | { op: "gc" };
export type ChildReply = { address: string } | { cpuMicros: number } | { collected: true };

const limits = JSON.parse(process.argv[2] ?? "{}") as Partial<TunnelLimits>;
const server = await startBenchServer(limits);
const send = (reply: ChildReply) => process.send!(reply);
process.on("message", (request: ChildRequest) => {
  if (request.op === "cpu") {
    const used = process.cpuUsage();
    send({ cpuMicros: used.user + used.system });
  } else {
    fullGc();
    send({ collected: true });
  }
});
process.on("disconnect", () => {
  server.close();
  process.exit(0);
});
send({ address: server.address });

// The gateway's memory with a caller that never reads, measured alone: this
// process runs the control server, the gateway and one agent whose server
// stream sends 64 KiB messages as fast as it may (up to TOTAL). The caller
// (the test) connects over HTTP/2 and reads nothing. Run with --expose-gc
// against the built packages:
//   node --expose-gc memory-child.mjs
// Prints "PORT <port>", then on each line of stdin "SENT <bytes>" (what the
// agent's handler got out so far) and, on "measure", "MEMORY <json>".
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { ReverseTunnelServer, TunnelServiceClient, TunnelServiceHandler } from "../../dist/index.js";
import { allowAll, createTunnelGateway } from "../../dist/gateway.js";
import { TestService } from "../../../interop/dist/index.js";

const MESSAGE = 64 * 1024;
const TOTAL = 256 * 1024 * 1024;

function heapAndBuffers() {
  globalThis.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

const handler = new TunnelServiceHandler({ affinityKey: () => "camera-3" });
const hub = new grpc.Server();
hub.addService(...handler.service());
const hubPort = await new Promise((resolve, reject) =>
  hub.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
);
let sent = 0;
const payload = new Uint8Array(MESSAGE).fill(1);
const agent = new ReverseTunnelServer(new TunnelServiceClient(`127.0.0.1:${hubPort}`, grpc.credentials.createInsecure()));
agent.registerService(TestService, {
  async *serverStream() {
    while (sent < TOTAL) {
      yield { payload };
      sent += MESSAGE;
    }
  },
});
void agent.serve();
await handler.keyAsChannel("camera-3").waitForReady();
const gateway = createTunnelGateway(handler, { authorize: allowAll });
const server = await gateway.listen();
const baseline = heapAndBuffers();
console.log(`PORT ${server.port}`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === "sent") {
    console.log(`SENT ${sent}`);
  } else if (line === "measure") {
    const now = heapAndBuffers();
    console.log(`MEMORY ${JSON.stringify({ growth: now.heap - baseline.heap, rssGrowth: now.rss - baseline.rss, sent, total: TOTAL })}`);
  }
}

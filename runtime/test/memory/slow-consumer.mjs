// One side of the slow-consumer memory check, in its own process so that its
// memory is measured alone. Run with --expose-gc against the built packages
// (npm test builds them first):
//   node --expose-gc slow-consumer.mjs server <rev1|rev0> <boundBytes>
//     prints "PORT n", then, when its call ends, a JSON report
//   node --expose-gc slow-consumer.mjs client <rev1|rev0> <port> <totalBytes>
//     pushes totalBytes in 64 KiB messages, then prints a JSON report
// The server reads, but keeps stopping for a while, so the sender is always
// ahead: in revision 1 the server's receive window (<boundBytes>) must hold
// it back; in revision 0 the per-stream buffer limit (<boundBytes>) must end
// the call. Each report has the largest growth of heap + array buffers seen.
import { setTimeout as sleep } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { clientStreamCall, openTunnel, TunnelServiceClient, TunnelServiceHandler } from "../../dist/index.js";
import { TestService } from "../../../interop/dist/index.js";

const [role, mode, ...rest] = process.argv.slice(2);
const MESSAGE = 64 * 1024;
const STALL_EVERY = 128 * 1024 * 1024;
const STALL_MS = 400;

const used = () => {
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const baseline = used();
let maxGrowth = 0;
const sample = () => (maxGrowth = Math.max(maxGrowth, used() - baseline));
// Samples every 50 ms while it waits, so a short-lived peak is seen too.
async function stall() {
  for (let waited = 0; waited < STALL_MS; waited += 50) {
    await sleep(50);
    sample();
  }
}

if (role === "server") {
  const bound = Number(rest[0]);
  const handler = new TunnelServiceHandler({
    disableFlowControl: mode === "rev0",
    limits: mode === "rev0" ? { maxBufferedBytesPerStream: bound } : { receiveWindowBytes: bound },
  });
  handler.registerService(TestService, {
    async clientStream(requests, ctx) {
      let received = 0;
      let sinceStall = 0;
      try {
        await stall(); // the sender fills what it can before anything is read
        for await (const request of requests) {
          received += request.payload.length;
          sinceStall += request.payload.length;
          if (sinceStall >= STALL_EVERY) {
            sinceStall = 0;
            await stall();
          }
        }
        return { count: received / MESSAGE };
      } finally {
        await stall(); // also sample after a failure, until the stream's memory is released
        console.log(JSON.stringify({ role, mode, bound, received, maxGrowth, aborted: ctx.signal.aborted }));
      }
    },
  });
  const server = new grpc.Server();
  server.addService(...handler.service());
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(`PORT ${port}`);
  });
} else {
  const [port, totalArg] = rest;
  const total = Number(totalArg);
  const client = new TunnelServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const tunnel = await openTunnel(client, { disableFlowControl: mode === "rev0" });
  const payload = new Uint8Array(MESSAGE);
  let offered = 0;
  async function* requests() {
    for (; offered < total; offered += MESSAGE) {
      if (offered % (16 * 1024 * 1024) === 0) sample();
      yield { payload };
    }
  }
  const started = performance.now();
  let outcome;
  try {
    const response = await clientStreamCall(tunnel, TestService.method.clientStream, requests());
    outcome = { ok: true, count: response.count };
  } catch (e) {
    outcome = { ok: false, code: e.code, message: e.rawMessage };
  }
  sample();
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ role, mode, total, offered, maxGrowth, seconds, ...outcome }));
  tunnel.close();
  client.close();
}

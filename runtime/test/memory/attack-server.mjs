// A tunnel server in its own process, for the attack tests: its memory is
// measured alone, and an unhandled rejection ends it as it would end a
// production server (Node's default). Runs the built packages (npm test
// builds them first):
//
//   node --expose-gc attack-server.mjs '{"limits": {...}, "flowControl": true, "processLimit": 123, "forwardedFor": false}'
//
// (forwardedFor: budgets keyed by x-forwarded-for, as behind a trusted proxy.)
//
// Sends {port} over IPC once listening; answers {cmd: "measure"} with the
// memory it holds after a full GC (heap, array buffers, RSS, peak RSS), what
// its tunnels have charged to their budgets, the process budget, and how
// many frames grpc-js has read from tunnel RPCs so far; {cmd: "frames"} with
// only the latter.
import * as grpc from "@grpc/grpc-js";
import { processMemoryUsage, setProcessMemoryLimit, TunnelServiceHandler } from "../../dist/index.js";
import { forwardedForKey } from "../../dist/protocol.js";
import { bytesMethodDefinition, TestService, testServiceImpl } from "../../../interop/dist/index.js";

const config = JSON.parse(process.argv[2] ?? "{}");
if (config.processLimit !== undefined) {
  setProcessMemoryLimit(config.processLimit);
}

const never = (signal) => new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));

const handler = new TunnelServiceHandler({
  limits: config.limits,
  disableFlowControl: config.flowControl === false,
  budgetKey: config.forwardedFor ? forwardedForKey() : undefined,
});
handler.registerService(TestService, {
  unary: testServiceImpl.unary,
  bidiStream: testServiceImpl.bidiStream,
  // Stops reading: whatever the client sends stays buffered on the server.
  async clientStream(_requests, ctx) {
    await never(ctx.signal);
    return {};
  },
  // payload[0] picks a fault; anything else streams nothing.
  async *serverStream(req) {
    const fault = req.payload[0] ?? 0;
    if (fault === 1) throw Object.create(null);
    if (fault === 2) throw Symbol("fault");
    if (fault === 3)
      throw {
        toString() {
          throw new Error("toString");
        },
      };
  },
});

// grpc-js style handlers, over raw bytes, that misbehave in grpc-js's own ways.
const method = (name, requestStream, responseStream) => bytesMethodDefinition(`/faults.Faults/${name}`, requestStream, responseStream);
handler.addService(
  { rejects: method("Rejects", false, false), writeAfterEnd: method("WriteAfterEnd", false, true), twice: method("Twice", false, false) },
  {
    rejects: async () => {
      throw Object.create(null);
    },
    writeAfterEnd: (call) => {
      call.on("error", () => {});
      call.write(Buffer.from("a"));
      call.end();
      call.write(Buffer.from("b"));
    },
    twice: (_call, callback) => {
      callback(null, Buffer.from("first"));
      callback({ code: 99, details: "second" });
    },
  },
);

// Counts the frames grpc-js reads from tunnel RPCs (it deserializes each one it takes).
let framesRead = 0;
const [definition, impl] = handler.service();
const counted = {
  ...definition,
  openTunnel: {
    ...definition.openTunnel,
    requestDeserialize: (bytes) => {
      framesRead++;
      return definition.openTunnel.requestDeserialize(bytes);
    },
  },
};

const server = new grpc.Server();
server.addService(counted, impl);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send({ port });
});

process.on("message", (message) => {
  if (message.cmd === "frames") {
    process.send({ id: message.id, framesRead }); // cheap: for polling, no GC
  } else if (message.cmd === "measure") {
    globalThis.gc();
    globalThis.gc();
    const memory = process.memoryUsage();
    process.send({
      id: message.id,
      heap: memory.heapUsed,
      arrayBuffers: memory.arrayBuffers,
      rss: memory.rss,
      maxRss: process.resourceUsage().maxRSS * 1024,
      charged: processMemoryUsage().used,
      processLimit: processMemoryUsage().limit,
      framesRead,
    });
  }
});
process.on("disconnect", () => process.exit(0));

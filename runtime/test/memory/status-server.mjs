// A reverse-tunnel server with its status page mounted on an HTTP server, in
// its own process, for the status page's attack tests: its memory is
// measured alone, and an uncaught exception ends it as it would end a
// production server. Runs the built packages (npm test builds them first):
//
//   node --expose-gc status-server.mjs '{"page": {"refreshMs": 100}, "formatter": "decode-agent-name"}'
//
// Sends {port, httpPort} over IPC once listening, then an {event} for every
// tunnel that opens or closes, every status page request and every process
// warning. Answers {cmd: "measure"} with the memory it holds after a full GC
// (heap, array buffers, RSS) and the HTTP connections open.
import { createServer } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { subscribeDiagnostics, TunnelServiceHandler, tunnelServerOptions } from "../../dist/index.js";
import { tunnelStatusPage } from "../../dist/status.js";

const config = JSON.parse(process.argv[2] ?? "{}");
const send = (message) => process.connected && process.send(message);

// Formatters an operator might write, some of which throw on what a client sends.
const formatters = {
  // decodeURIComponent throws URIError on a malformed escape such as %E0%A4%A.
  "decode-agent-name": { metadata: (t) => ({ agent: decodeURIComponent(String(t.metadata.get("agent-name")[0] ?? "")) }) },
  "decode-key": { formatKey: (key) => decodeURIComponent(String(key)) },
};

const handler = new TunnelServiceHandler({ affinityKey: (t) => String(t.metadata.get("agent-key")[0] ?? "") });
const server = new grpc.Server(tunnelServerOptions());
server.addService(...handler.service());
const port = await new Promise((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
);

subscribeDiagnostics({
  tunnelOpen: ({ tunnel }) => send({ event: "open", id: tunnel.id }),
  tunnelClose: ({ tunnel }) => send({ event: "close", id: tunnel.id }),
});
process.on("warning", (warning) => send({ event: "warning", message: warning.message }));

const page = tunnelStatusPage(handler, { ...config.page, ...formatters[config.formatter] });
const http = createServer((request, response) => {
  send({ event: "request", url: request.url });
  response.on("close", () => send({ event: "response-closed", url: request.url }));
  page(request, response);
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));

process.on("message", (message) => {
  if (message.cmd === "measure") {
    globalThis.gc();
    globalThis.gc();
    const memory = process.memoryUsage();
    http.getConnections((_, connections) =>
      send({ id: message.id, heap: memory.heapUsed, arrayBuffers: memory.arrayBuffers, rss: memory.rss, connections }),
    );
  }
});
process.on("disconnect", () => process.exit(0));
send({ port, httpPort: http.address().port });

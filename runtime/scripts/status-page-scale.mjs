// How the status page scales with the fleet: for a source of N reverse
// tunnels (one per key, as a fleet of agents) and a few forward ones, the
// bytes of each response (the HTML page, one live update, status.json) and
// the CPU time of one refresh (listing, sorting and rendering a page),
// measured on the built package through a real HTTP server:
//
//   npx tsc -b && node --expose-gc runtime/scripts/status-page-scale.mjs [N …]
//
// CPU time (process.cpuUsage), not wall time: it is less sensitive to other
// processes on the machine. The figures in docs/security.md come from it.
import { Metadata } from "@grpc/grpc-js";
import { createServer, get } from "node:http";
import { tunnelStatusPage } from "../dist/status.js";

const sizes = process.argv.slice(2).map(Number);
const fleets = sizes.length > 0 ? sizes : [100, 10_000, 100_000];

function fakeTunnel(id, direction, key) {
  return {
    id,
    role: direction === "reverse" ? "client" : "server",
    direction,
    peer: `ipv4:10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}:${40000 + (id % 20000)}`,
    metadata: new Metadata(),
    affinityKey: key,
    openedAt: new Date(Date.now() - id * 1000),
    protocolRevision: 1,
    activeCalls: id % 3,
    bytesSent: id * 1234,
    bytesReceived: id * 4321,
    closed: false,
  };
}

function fetchText(url) {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    }).on("error", reject);
  });
}

/** The first event of the live stream, in bytes, and the CPU time the server took to send it. */
function firstEvent(url) {
  return new Promise((resolve, reject) => {
    const request = get(url, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        text += chunk;
        const end = text.indexOf("\n\n");
        if (end >= 0) {
          request.destroy();
          resolve(Buffer.byteLength(text.slice(0, end + 2)));
        }
      });
    });
    request.on("error", reject);
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

for (const fleet of fleets) {
  const tunnels = [];
  for (let i = 0; i < fleet; i++) tunnels.push(fakeTunnel(i + 1, "reverse", `device-${String((i * 7919) % fleet).padStart(7, "0")}`));
  for (let i = 0; i < 10; i++) tunnels.push(fakeTunnel(fleet + i + 1, "forward", undefined));
  const page = tunnelStatusPage({ listTunnels: () => tunnels });
  const server = createServer(page);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  const html = (await fetchText(`${base}/`)).length;
  const json = (await fetchText(`${base}/status.json?page=2`)).length;
  // An update after a tunnel came or went (the page sorts the fleet again), and one while the same tunnels are open.
  const cpu = { changed: [], same: [] };
  let event = 0;
  for (let round = 0; round < 14; round++) {
    const changed = round % 2 === 0;
    if (changed) {
      tunnels[round] = fakeTunnel(fleet + 100 + round, "reverse", tunnels[round].affinityKey);
    }
    globalThis.gc?.();
    const before = process.cpuUsage();
    event = await firstEvent(`${base}/events?page=${round + 1}`);
    const used = process.cpuUsage(before);
    cpu[changed ? "changed" : "same"].push((used.user + used.system) / 1000);
  }
  console.log(
    `${fleet} keys: page ${(html / 1024).toFixed(1)} KiB, live update ${(event / 1024).toFixed(1)} KiB, ` +
      `status.json ${(json / 1024).toFixed(1)} KiB; CPU per update (median of 7, client included): ` +
      `${median(cpu.changed).toFixed(1)} ms after a change, ${median(cpu.same).toFixed(1)} ms without`,
  );
  page.close();
  server.close();
}

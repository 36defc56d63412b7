// One replica of a reverse-tunnel server in cluster mode, in a process of its
// own, so that a test can kill it (SIGKILL), drain it and weigh its heap. It
// runs the built packages (npm test builds them first) and is started by
// runtime/test/support/replica-processes.ts with fork() and --expose-gc:
// configuration as JSON in argv[2], requests and answers over IPC.
//
// Extra directory options come in config.directory. Agents dial its public port (through the test's balancer); its relay
// listener is a second grpc-js server; the test issues calls *from* this
// replica with the operations in replica-scenarios.mjs.
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { subscribeDiagnostics, TunnelServiceHandler, tunnelServerOptions } from "../../dist/index.js";
import { joinCluster, RedisAffinityDirectory } from "../../dist/cluster.js";
import { controlServerHealth, fleetAdmin, shutdownOnSignal } from "../../dist/fleet.js";
import { allowAll, createTunnelGateway } from "../../dist/gateway.js";
import { callOps } from "./replica-scenarios.mjs";

const config = JSON.parse(process.argv[2]);
const send = (message) => process.connected && process.send(message);

function bind(server) {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

function shutdown(server) {
  return new Promise((resolve) => server.tryShutdown(() => resolve()));
}

const relayServer = new grpc.Server(tunnelServerOptions());
const relayAddress = `127.0.0.1:${await bind(relayServer)}`;
const directory = await RedisAffinityDirectory.open({
  url: config.redisUrl,
  namespace: config.namespace,
  replicaId: config.replicaId,
  address: relayAddress,
  leaseMs: config.leaseMs,
  refreshMs: config.refreshMs,
  commandTimeoutMs: config.commandTimeoutMs,
  ...config.directory,
});
// Every route a lookup returned, so a test can tell where calls were sent.
const routesSeen = [];
const recording = {
  replicaId: directory.replicaId,
  address: directory.address,
  register: (key) => directory.register(key),
  unregister: (key) => directory.unregister(key),
  lookup: async (key, options) => {
    const routes = await directory.lookup(key, options);
    for (const route of routes) routesSeen.push({ at: Date.now(), key, replicaId: route.replicaId });
    return routes;
  },
  waitFor: (key, options) => directory.waitFor(key, options),
  flush: () => directory.flush(),
  close: () => directory.close(),
  listKeys: (request) => directory.listKeys(request),
  reportLoad: (tunnels) => directory.reportLoad(tunnels),
  get unreachableSince() {
    return directory.unreachableSince;
  },
};
const cluster = await joinCluster({
  directory: recording,
  relay: { address: relayAddress, secret: config.secret },
  rebalance: config.rebalance,
});
relayServer.addService(...cluster.relayService());

const callerHeader = config.quotas?.callerHeader;
const handler = new TunnelServiceHandler({
  affinityKey: (tunnel) => String(tunnel.metadata.get("agent-key")[0] ?? ""),
  cluster,
  quotas:
    config.quotas === undefined
      ? undefined
      : { ...config.quotas, callerOf: callerHeader === undefined ? undefined : (md) => md.get(callerHeader)[0]?.toString() },
  onReverseTunnelOpen: (t) =>
    send({ event: "open", key: String(t.metadata.get("agent-key")[0]), agent: String(t.metadata.get("agent-name")[0]) }),
  onReverseTunnelClose: (t) =>
    send({ event: "close", key: String(t.metadata.get("agent-key")[0]), agent: String(t.metadata.get("agent-name")[0]) }),
});
const publicServer = new grpc.Server(tunnelServerOptions());
publicServer.addService(...handler.service());
const port = await bind(publicServer);

// Health, readiness and the admin endpoints (tunnelctl) on one HTTP port; SIGTERM drains gracefully.
const health = controlServerHealth(handler, { cluster, directoryGraceMs: config.directoryGraceMs });
const admin = fleetAdmin(handler, { cluster, token: config.adminToken, onDrain: () => graceful.shutdown() });
const httpServer = http.createServer((req, res) => (/^\/(healthz|readyz)(\?|$)/.test(req.url ?? "") ? health(req, res) : admin(req, res)));
await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
// The tunnel gateway (tunnelctl call), any caller allowed: a test cluster on loopback.
const gatewayServer = await createTunnelGateway(handler, { authorize: allowAll }).listen({ port: 0 });
const graceful = shutdownOnSignal({
  health,
  handler,
  cluster,
  servers: [publicServer, relayServer],
  graceMs: config.shutdownGraceMs ?? 10_000,
  onStopped: async () => {
    await gatewayServer.close();
    admin.close();
    httpServer.closeAllConnections();
    return new Promise((resolve) => httpServer.close(() => resolve()));
  },
});

/** Rebalancing rounds that shed tunnels here (diagnostics). */
const shedRounds = [];
subscribeDiagnostics({ tunnelsShed: (event) => event.replicaId === config.replicaId && shedRounds.push(event) });

const ops = {
  ...callOps(handler),
  shedRounds: () => ({ rounds: shedRounds, total: cluster.tunnelsShed }),
  /** Every route lookups returned since `since` (ms since the epoch). */
  routesSeen: ({ since }) => routesSeen.filter((r) => r.at >= since),
  lookup: ({ key }) => directory.lookup(key),
  /** The keys this replica holds, as its directory publishes them. */
  holds: () => [...directory.registeredKeys].sort(),
  flush: () => directory.flush(),
  /**
   * What the process holds after a full GC (external: buffers, and strings
   * outside the heap, as Node makes long HTTP/2 header values), and the
   * directory's removals waiting for Redis.
   */
  measure: () => {
    globalThis.gc();
    globalThis.gc();
    const memory = process.memoryUsage();
    return { heap: memory.heapUsed, external: memory.external, rss: memory.rss, pending: directory.pendingRemovals };
  },
  /** The rolling-deploy recipe: stop taking work, let calls finish, leave the cluster, exit. */
  drain: async ({ graceMs }) => {
    const stopped = Promise.all([shutdown(publicServer), shutdown(relayServer)]);
    await handler.drain({ graceMs });
    await cluster.close();
    await stopped;
    setImmediate(() => process.exit(0));
    return { drained: true };
  },
};

process.on("message", async ({ id, op, args }) => {
  try {
    send({ id, ok: true, result: await ops[op](args ?? {}) });
  } catch (e) {
    send({ id, ok: false, error: { code: e?.code, message: e?.rawMessage ?? e?.message ?? String(e) } });
  }
});
process.on("disconnect", () => process.exit(0)); // the test process is gone
send({
  event: "ready",
  replicaId: config.replicaId,
  port,
  relayAddress,
  httpPort: httpServer.address().port,
  gatewayPort: gatewayServer.port,
  pid: process.pid,
});

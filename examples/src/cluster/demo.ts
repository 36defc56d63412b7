import { randomUUID } from "node:crypto";
import { agentServiceClientForKey } from "../gen/agent/v1/agent_tunnel.js";
import { startAgent, type Device, type RunningAgent } from "../reverse/agent.js";
import { startBalancer, type Balancer } from "./balancer.js";
import { demoRedis } from "./redis.js";
import { startReplica, type Replica } from "./replica.js";

/** One call the demo made: from which replica, to which device, served where. */
export interface DemoCall {
  from: string;
  device: string;
  /** The replica holding the device's tunnel when the call was made. */
  servedVia: string;
  answer: string;
}

/** What the demo observed, for tests. */
export interface ClusterDemoResult {
  /** Device → replica, as the agents first connected. */
  placement: Record<string, string>;
  calls: DemoCall[];
  /** The replica drained in the rolling-deploy step, and the device that had to move. */
  drained: { replica: string; device: string; movedTo: string };
  afterDrain: DemoCall;
}

const devices: Device[] = ["camera-1", "camera-2", "thermostat-7"].map((id, i) => ({
  id,
  firmware: "3.0.0",
  temperatureCelsius: 20 + i * 9.5,
  bootedAt: new Date(Date.now() - (i + 1) * 60_000),
  logs: [`${id} booted`, `${id} online`],
}));

/**
 * Three replicas of a control server behind a load balancer, sharing a
 * directory of device IDs on Redis. Each device's agent lands on whichever
 * replica the balancer picked; a caller on replica-a reaches every device
 * anyway (relayed through the replica holding it). Then the replica holding
 * a device is drained as in a rolling deploy: the agent reconnects through
 * the balancer to another replica, and a waiting call reaches it there.
 */
export async function runClusterDemo(log: (line: string) => void = console.log): Promise<ClusterDemoResult> {
  log("Scaling out: three replicas behind a load balancer share a directory of device IDs on Redis.");
  const redis = await demoRedis();
  const holders = new Map<string, string>();
  const replicas: Replica[] = [];
  const agents: RunningAgent[] = [];
  let balancer: Balancer | undefined;
  try {
    const relaySecret = randomUUID(); // every replica shares it; relay tunnels must carry it
    for (const name of ["replica-a", "replica-b", "replica-c"]) {
      replicas.push(
        await startReplica({
          name,
          redisUrl: redis.url,
          relaySecret,
          host: "127.0.0.1",
          onDeviceConnected: (device) => {
            log(`${name}: ${device} connected`);
            holders.set(device, name);
          },
        }),
      );
    }
    balancer = await startBalancer(replicas.map((r) => r.port));
    log(`balancer: ${balancer.address} in front of ${replicas.map((r) => `${r.name} (:${r.port})`).join(", ")}`);
    const caller = replicas[0];
    for (const device of devices) {
      // Each agent is a device of its own: its own connection (grpc-js would share one between clients in a process).
      agents.push(startAgent(balancer.address, device, { "grpc.use_local_subchannel_pool": 1 }));
      await caller.handler.keyAsChannel(device.id).waitForReady(); // wherever it landed
    }
    const placement = Object.fromEntries(devices.map((d) => [d.id, holders.get(d.id)!]));

    const call = async (device: string, options = {}): Promise<DemoCall> => {
      const status = await agentServiceClientForKey(caller.handler, device).getStatus({}, options);
      const servedVia = holders.get(device)!;
      const answer = `${status.temperatureCelsius} °C, firmware ${status.firmware}`;
      const route = servedVia === caller.name ? "local tunnel" : `relayed via ${servedVia}`;
      log(`${caller.name} → ${device}: ${answer} (${route})`);
      return { from: caller.name, device, servedVia, answer };
    };
    const calls: DemoCall[] = [];
    for (const device of devices) {
      calls.push(await call(device.id));
    }
    const remote = devices.find((d) => holders.get(d.id) !== caller.name);
    if (remote === undefined) {
      throw new Error("the balancer put every agent on the caller's replica");
    }
    for await (const line of agentServiceClientForKey(caller.handler, remote.id).tailLogs({ lines: 2 })) {
      log(`${caller.name} ← ${remote.id} log: ${line.text}`);
    }

    // A rolling deploy: the replica holding `remote` leaves the balancer and drains.
    const leaving = replicas.find((r) => r.name === holders.get(remote.id))!;
    log(`rolling deploy: ${leaving.name} leaves the balancer and drains`);
    balancer.ports = balancer.ports.filter((port) => port !== leaving.port);
    await leaving.stop();
    replicas.splice(replicas.indexOf(leaving), 1);
    const afterDrain = await call(remote.id, { waitForReady: true, timeoutMs: 10_000 });
    return { placement, calls, drained: { replica: leaving.name, device: remote.id, movedTo: afterDrain.servedVia }, afterDrain };
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
    await balancer?.close();
    for (const replica of replicas) {
      await replica.stop();
    }
    await redis.stop();
    log("agents disconnected, replicas stopped");
  }
}

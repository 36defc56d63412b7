import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Code, codeName, TunnelError } from "@protoc-gen-tunnel/runtime";
import type { CommandOutput, Status } from "../gen/agent/v1/agent_pb.js";
import { agentServiceAnyAgentClient, agentServiceClientForKey } from "../gen/agent/v1/agent_tunnel.js";
import { startAgent, type Device } from "./agent.js";
import { startControlServer } from "./control-server.js";
import { fleetStatus } from "./fleet.js";
import { startStatusServer, type StatusServer } from "./status-server.js";

/** What the demo observed, for tests. */
export interface ReverseDemoResult {
  status: Status;
  logLines: string[];
  shell: CommandOutput[];
  roundRobin: string[];
  unknownDevice: Code | undefined;
}

export interface ReverseDemoOptions {
  /**
   * Also serve the control server's status page (and print its URL); after
   * the calls, keep the devices connected, polling them every second, until
   * `until` resolves (e.g. on Ctrl-C).
   */
  statusPage?: { until: Promise<void> };
}

const devices: Device[] = [
  {
    id: "thermostat-7",
    firmware: "2.4.1",
    temperatureCelsius: 20.5,
    bootedAt: new Date(Date.now() - 42 * 60_000),
    logs: ["boot ok", "sensor calibrated"],
  },
  {
    id: "camera-3",
    firmware: "1.9.0",
    temperatureCelsius: 38.2,
    bootedAt: new Date(Date.now() - 7 * 60_000),
    logs: ["boot ok", "motion detected at door", "uploaded clip 0412", "motion detected at gate"],
  },
];

/**
 * Agents behind NAT dial out to a control server; the server then calls
 * each agent by its device ID over the agent's reverse tunnel, with the
 * generated clients: unary, server streaming and bidi streaming.
 */
export async function runReverseDemo(
  log: (line: string) => void = console.log,
  options: ReverseDemoOptions = {},
): Promise<ReverseDemoResult> {
  log("Reverse tunnels: agents behind NAT dial out to a control server, which then calls them by device ID.");
  const control = await startControlServer(log);
  log(`control: listening on ${control.address}`);
  let statusServer: StatusServer | undefined;
  if (options.statusPage !== undefined) {
    statusServer = await startStatusServer(control.handler);
    log(`status page: ${statusServer.url}`);
  }
  const agents = devices.map((device) => startAgent(control.address, structuredClone(device)));
  try {
    for (const { id } of devices) {
      await control.handler.keyAsChannel(id).waitForReady({ signal: AbortSignal.timeout(10_000) });
    }

    const camera = agentServiceClientForKey(control.handler, "camera-3");
    const status = await camera.getStatus({}, { timeoutMs: 2_000 });
    log(`control → camera-3 GetStatus: firmware ${status.firmware}, ${status.temperatureCelsius} °C, booted ${bootedAt(status)}`);

    log("control → camera-3 TailLogs(lines: 3):");
    const logLines: string[] = [];
    for await (const line of camera.tailLogs({ lines: 3 })) {
      logLines.push(line.text);
      log(`  ${line.text}`);
    }

    log("control → thermostat-7 Shell (bidi stream):");
    const thermostat = agentServiceClientForKey(control.handler, "thermostat-7");
    const shell: CommandOutput[] = [];
    for await (const out of thermostat.shell(commands("uptime", "set-target 21.5", "self-destruct"))) {
      shell.push(out);
      log(`  $ ${out.line}\n    ${out.output} (exit ${out.exitCode})`);
    }

    // Without a key, calls go round-robin over every connected device.
    const anyDevice = agentServiceAnyAgentClient(control.handler);
    const roundRobin: string[] = [];
    for (let i = 0; i < devices.length; i++) {
      roundRobin.push((await anyDevice.getStatus({})).deviceId);
    }
    log(`control → any device GetStatus ×${roundRobin.length} (round-robin): ${roundRobin.join(", ")}`);

    // Fan-out: every device at once (bounded), each result or error as it comes.
    log("control → every device GetStatus (fan-out):");
    for (const { deviceId, line } of await fleetStatus(control.handler)) {
      log(`  ${deviceId}: ${line}`);
    }

    let unknownDevice: Code | undefined;
    try {
      await agentServiceClientForKey(control.handler, "toaster-1").getStatus({});
    } catch (e) {
      unknownDevice = e instanceof TunnelError ? e.code : undefined;
      log(`control → toaster-1 GetStatus: ${e instanceof TunnelError ? codeName(e.code) : String(e)} (no such device connected)`);
    }
    if (options.statusPage !== undefined) {
      log("devices stay connected (polled every second); press Ctrl-C to stop");
      await pollUntil(options.statusPage.until, () =>
        Promise.all(devices.map(({ id }) => agentServiceClientForKey(control.handler, id).getStatus({}))),
      );
    }
    return { status, logLines, shell, roundRobin, unknownDevice };
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
    await statusServer?.stop();
    await control.stop();
    log("agents disconnected, control server stopped");
  }
}

/** Runs `poll` every second until `until` resolves; a failed poll is reported on the status page, not here. */
async function pollUntil(until: Promise<void>, poll: () => Promise<unknown>): Promise<void> {
  const timer = setInterval(() => void poll().catch(() => {}), 1000);
  try {
    await until;
  } finally {
    clearInterval(timer);
  }
}

async function* commands(...lines: string[]) {
  for (const line of lines) {
    yield { line };
  }
}

function bootedAt(status: Status): string {
  return status.bootedAt ? timestampDate(status.bootedAt).toISOString() : "unknown";
}

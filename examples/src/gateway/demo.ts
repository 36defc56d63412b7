import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, TunnelError } from "@protoc-gen-tunnel/runtime";
import { createTunnelGateway, serveReflection } from "@protoc-gen-tunnel/runtime/gateway";
import { AgentService } from "../gen/agent/v1/agent_pb.js";
import { startAgent, type Device } from "../reverse/agent.js";
import { startControlServer } from "../reverse/control-server.js";

/** The caller's token (a real gateway would check a signed token or a client certificate). */
const TOKEN = "demo-token";

const devices: Device[] = [
  {
    id: "camera-3",
    firmware: "1.9.0",
    temperatureCelsius: 38.2,
    bootedAt: new Date(),
    logs: ["boot ok", "motion detected at door", "uploaded clip 0412"],
  },
  { id: "thermostat-7", firmware: "2.4.1", temperatureCelsius: 20.5, bootedAt: new Date(), logs: ["boot ok"] },
];

/**
 * A control server with a tunnel gateway; two agents dial in; a plain
 * grpc-js caller in another process calls them by device ID through the
 * gateway. Returns what the caller printed.
 */
export async function runGatewayDemo(log: (line: string) => void = console.log): Promise<string[]> {
  log("Gateway: callers anywhere call agents behind NAT by device ID, with no server code per method.");
  const control = await startControlServer(log);
  const gateway = createTunnelGateway(control.handler, {
    authorize: (call) => {
      if (call.metadata.get("authorization")[0] !== `Bearer ${TOKEN}`) {
        throw new TunnelError(Code.UNAUTHENTICATED, "a valid bearer token is required");
      }
      return true;
    },
    dropHeaders: ["authorization"],
  });
  const server = await gateway.listen();
  log(`gateway: listening on ${server.address} (gRPC, Connect, gRPC-Web)`);
  const agents = devices.map((device) => startAgent(control.address, device, {}, (agent) => serveReflection(agent, [AgentService])));
  try {
    for (const { id } of devices) {
      await control.handler.keyAsChannel(id).waitForReady({ signal: AbortSignal.timeout(10_000) });
    }
    log(`try: grpcurl -plaintext -H 'tunnel-key: camera-3' -H 'authorization: Bearer ${TOKEN}' ${server.address} list`);
    return await runCaller(server.address, log);
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
    await server.close();
    await control.stop();
    log("agents disconnected, gateway and control server stopped");
  }
}

/** Runs the caller (the built caller.js) in another process; resolves with its lines once it exits cleanly. */
async function runCaller(address: string, log: (line: string) => void): Promise<string[]> {
  const script = fileURLToPath(new URL("../../dist/gateway/caller.js", import.meta.url));
  const child = spawn(process.execPath, [script, address, TOKEN], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    lines.push(line);
    log(line);
  }
  const code = await exited;
  if (code !== 0) {
    throw new Error(`the caller exited with ${code}`);
  }
  return lines;
}

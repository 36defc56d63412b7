import { codeName, type ReverseChannels, type FanOutHandler } from "@protoc-gen-tunnel/runtime";
import type { CommandOutput } from "../gen/agent/v1/agent_pb.js";
import { agentServiceClientForKey, agentServiceForEachAgent } from "../gen/agent/v1/agent_tunnel.js";

/** One line per device: its firmware and temperature, or why it did not answer. */
export interface FleetLine {
  deviceId: string;
  line: string;
}

/**
 * Asks every connected device whose ID starts with `prefix` for its status,
 * ten at a time, two seconds each. GetStatus has no side effects (its
 * proto says so), so the client retries it when a device's tunnel fails.
 */
export async function fleetStatus(handler: FanOutHandler<string>, prefix = ""): Promise<FleetLine[]> {
  const lines: FleetLine[] = [];
  const statuses = agentServiceForEachAgent(handler, { prefix }, (device) => device.getStatus({}), {
    concurrency: 10,
    timeoutMs: 2_000,
    client: { retry: { maxAttempts: 3 } },
  });
  for await (const r of statuses) {
    lines.push({
      deviceId: r.key,
      line: r.ok ? `firmware ${r.result.firmware}, ${r.result.temperatureCelsius} °C` : `no answer: ${codeName(r.error.code)}`,
    });
  }
  return lines.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
}

/**
 * An interactive shell session on one device: each command is sent once
 * the previous one's output came back (the push-style `openShell`).
 */
export async function shellSession(handler: ReverseChannels<string>, deviceId: string, commands: string[]): Promise<CommandOutput[]> {
  const shell = agentServiceClientForKey(handler, deviceId).openShell({ timeoutMs: 5_000 });
  const outputs: CommandOutput[] = [];
  const next = () => {
    const line = commands[outputs.length];
    return line === undefined ? shell.close() : shell.send({ line });
  };
  await next();
  for await (const output of shell) {
    outputs.push(output);
    await next();
  }
  return outputs;
}

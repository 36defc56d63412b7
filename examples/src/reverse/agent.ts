import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ReverseTunnelServer } from "@protoc-gen-tunnel/runtime";
import { registerAgentService, type AgentServiceImpl } from "../gen/agent/v1/agent_tunnel.js";
import { dialTunnelService } from "../shared/grpc.js";

/** What a device knows about itself (a real agent would read the system). */
export interface Device {
  id: string;
  firmware: string;
  temperatureCelsius: number;
  bootedAt: Date;
  logs: string[];
}

/** The agent's implementation of AgentService: typed by the generated AgentServiceImpl. */
export function agentService(device: Device): AgentServiceImpl {
  const status = () => ({
    deviceId: device.id,
    firmware: device.firmware,
    temperatureCelsius: device.temperatureCelsius,
    bootedAt: timestampFromDate(device.bootedAt),
  });
  return {
    getStatus: status,
    async *tailLogs(request) {
      for (const text of device.logs.slice(-Math.max(request.lines, 0))) {
        yield { at: timestampNow(), text };
      }
    },
    async *shell(commands, context) {
      for await (const { line } of commands) {
        if (context.signal.aborted) {
          return;
        }
        yield { line, ...runCommand(device, line) };
      }
    },
    reboot() {
      device.bootedAt = new Date();
      return status();
    },
  };
}

function runCommand(device: Device, line: string): { output: string; exitCode: number } {
  const [command, ...args] = line.trim().split(/\s+/);
  switch (command) {
    case "uptime": {
      const minutes = Math.round((Date.now() - device.bootedAt.getTime()) / 60_000);
      return { output: `up ${minutes} min`, exitCode: 0 };
    }
    case "set-target": {
      const target = Number(args[0]);
      if (!Number.isFinite(target)) {
        return { output: "usage: set-target <celsius>", exitCode: 2 };
      }
      device.logs.push(`target temperature set to ${target} °C`);
      return { output: `target set to ${target} °C`, exitCode: 0 };
    }
    default:
      return { output: `${command}: command not found`, exitCode: 127 };
  }
}

/** An agent with its reverse tunnel to the control server. */
export interface RunningAgent {
  device: Device;
  /** Lets running calls finish, closes the tunnel and stops reconnecting. */
  stop(): Promise<void>;
}

/**
 * Dials out to the control server and serves AgentService over a reverse
 * tunnel, re-opening it whenever it drops. The device ID travels as tunnel
 * metadata: the server's affinity key.
 */
export function startAgent(
  controlAddress: string,
  device: Device,
  clientOptions: grpc.ClientOptions = {},
  /** Registers more on the agent, e.g. gRPC reflection (the gateway demo). */
  setup: (server: ReverseTunnelServer) => void = () => {},
): RunningAgent {
  const client = dialTunnelService(controlAddress, clientOptions);
  const server = new ReverseTunnelServer(client);
  registerAgentService(server, agentService(device));
  setup(server);
  const serving = server.serve({ metadata: { "device-id": device.id }, reconnect: true });
  return {
    device,
    async stop() {
      await server.gracefulStop();
      await serving;
      client.close();
    },
  };
}

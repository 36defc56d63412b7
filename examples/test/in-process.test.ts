// The examples' own code, unchanged, on the in-process test transport: the
// control server's handler (controlHandler), the device agent's
// AgentService (agentService) and the control plane's fleet code
// (fleetStatus, shellSession), without a network server or socket.
import { startTestAgent, type TestAgent } from "@protoc-gen-tunnel/runtime/testing";
import { afterEach, describe, expect, it } from "vitest";
import { registerAgentService } from "../src/gen/agent/v1/agent_tunnel.js";
import { agentService, type Device } from "../src/reverse/agent.js";
import { controlHandler } from "../src/reverse/control-server.js";
import { fleetStatus, shellSession } from "../src/reverse/fleet.js";

const agents: TestAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});

function device(id: string, temperatureCelsius: number): Device {
  return { id, firmware: "3.0.0", temperatureCelsius, bootedAt: new Date(Date.now() - 5 * 60_000), logs: [] };
}

describe("the reverse example on the in-process test transport", () => {
  it("reports the status of every device, and which did not answer", async () => {
    const log: string[] = [];
    const handler = controlHandler((line) => log.push(line));
    for (const d of [device("sensor-1", 21), device("sensor-2", 23.5)]) {
      agents.push(
        await startTestAgent(handler, {
          metadata: { "device-id": d.id },
          register: (server) => registerAgentService(server, agentService(d)),
        }),
      );
    }
    // A device whose agent serves nothing: its call answers UNIMPLEMENTED.
    agents.push(await startTestAgent(handler, { metadata: { "device-id": "sensor-3" }, register: () => {} }));
    agents.push(
      await startTestAgent(handler, {
        metadata: { "device-id": "camera-1" },
        register: (server) => registerAgentService(server, agentService(device("camera-1", 40))),
      }),
    );

    expect(await fleetStatus(handler, "sensor-")).toEqual([
      { deviceId: "sensor-1", line: "firmware 3.0.0, 21 °C" },
      { deviceId: "sensor-2", line: "firmware 3.0.0, 23.5 °C" },
      { deviceId: "sensor-3", line: "no answer: UNIMPLEMENTED" },
    ]);
    expect((await fleetStatus(handler)).map((l) => l.deviceId)).toEqual(["camera-1", "sensor-1", "sensor-2", "sensor-3"]);
    expect(log).toContain("control: sensor-1 dialed in and opened a reverse tunnel");
  });

  it("runs an interactive shell session, each command after the previous answer", async () => {
    const handler = controlHandler(() => {});
    const thermostat = device("thermostat-1", 19);
    agents.push(
      await startTestAgent(handler, {
        metadata: { "device-id": thermostat.id },
        register: (server) => registerAgentService(server, agentService(thermostat)),
      }),
    );
    const outputs = await shellSession(handler, "thermostat-1", ["uptime", "set-target 22", "reboot-now"]);
    expect(outputs.map((o) => [o.line, o.output, o.exitCode])).toEqual([
      ["uptime", "up 5 min", 0],
      ["set-target 22", "target set to 22 °C", 0],
      ["reboot-now", "reboot-now: command not found", 127],
    ]);
    expect(thermostat.logs).toEqual(["target temperature set to 22 °C"]);
  });
});

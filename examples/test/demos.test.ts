import { Code } from "@protoc-gen-tunnel/runtime";
import { describe, expect, it } from "vitest";
import { runForwardDemo } from "../src/forward/demo.js";
import { runReverseDemo } from "../src/reverse/demo.js";

describe("examples", () => {
  it("reverse tunnels: the server calls agents by device ID", async () => {
    const printed: string[] = [];
    const result = await runReverseDemo((line) => printed.push(line));
    expect(result.status).toMatchObject({ deviceId: "camera-3", firmware: "1.9.0", temperatureCelsius: 38.2 });
    expect(result.logLines).toEqual(["motion detected at door", "uploaded clip 0412", "motion detected at gate"]);
    expect(result.shell.map((o) => [o.line, o.exitCode])).toEqual([
      ["uptime", 0],
      ["set-target 21.5", 0],
      ["self-destruct", 127],
    ]);
    expect(result.shell[0].output).toBe("up 42 min");
    expect([...result.roundRobin].sort()).toEqual(["camera-3", "thermostat-7"]);
    expect(result.unknownDevice).toBe(Code.UNAVAILABLE);
    expect(printed).toContain("control: camera-3 dialed in and opened a reverse tunnel");
    expect(printed).toContain("  camera-3: firmware 1.9.0, 38.2 °C");
    expect(printed).toContain("  thermostat-7: firmware 2.4.1, 20.5 °C");
    expect(printed.at(-1)).toBe("agents disconnected, control server stopped");
  });

  it("forward tunnels: each chatty session stays on one backend", async () => {
    const printed: string[] = [];
    const sessions = await runForwardDemo((line) => printed.push(line));
    expect(sessions.map((s) => s.session)).toEqual(["alice", "bob", "carol"]);
    for (const { appendedOn, replay } of sessions) {
      const backend = appendedOn[0];
      expect(appendedOn.every((b) => b === backend)).toBe(true);
      // The whole notebook is there: no call of the session went elsewhere.
      expect(replay.map((l) => l.backend)).toEqual(appendedOn);
      expect(replay.length).toBeGreaterThanOrEqual(3);
    }
    expect(sessions[0].replay.map((l) => l.text)).toEqual(["buy milk", "call the plumber", "renew passport", "book the dentist"]);
    expect(printed.at(-1)).toBe("backends stopped");
  });
});

import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startGateway } from "../support/gateway.js";
import { runPython } from "../support/python.js";
import { connectAgent, Gate } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const CALLER = fileURLToPath(new URL("./python-caller.py", import.meta.url));

describe("gateway: a real Python gRPC client (python3-grpcio, generic bytes methods) in another process", () => {
  it("unary, server streaming, a deadline, a cancel and a denied call", async () => {
    const { hub, address } = await startGateway(cleanup, { authorize: (_call, key) => key !== "vault-1" });
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const gate = new Gate();
    await connectAgent(cleanup, hub, { name: "gated-3", impl: { serverStream: gate.serverStream } });
    await connectAgent(cleanup, hub, { name: "vault-1" });

    const output = await runPython([CALLER, address, "camera-3", "gated-3", "vault-1"]);
    const results = Object.fromEntries(
      output
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { scenario: string })
        .map((r) => [r.scenario, r]),
    );
    expect(results.unary).toEqual({ scenario: "unary", payload: "from python" });
    expect(results["server-streaming"]).toEqual({ scenario: "server-streaming", payloads: ["tick", "tick", "tick", "tick"] });
    expect(results.deadline).toMatchObject({ scenario: "deadline", code: "DEADLINE_EXCEEDED" });
    expect(results.cancel).toEqual({ scenario: "cancel", first: "gated", code: "CANCELLED" });
    expect(results.denied).toMatchObject({ scenario: "denied", code: "PERMISSION_DENIED" });
    expect((results.denied as unknown as { details: string }).details).toMatch(/key "vault-1"/);
    // The Python caller's cancel reached the agent's handler through the gateway and the tunnel.
    await gate.aborted.promise;
    expect(gate.wasAborted).toBe(true);
  });
});

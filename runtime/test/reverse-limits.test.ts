// Limits on reverse tunnels: at most N per affinity key.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, unaryCall } from "../src/index.js";
import { connectAgent, servedBy, startAgent, startHub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("maxReverseTunnelsPerKey", () => {
  it("refuses one tunnel too many for a key with RESOURCE_EXHAUSTED; other keys and later tunnels are fine", async () => {
    const hub = await startHub(cleanup, { maxReverseTunnelsPerKey: 1 });
    const first = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const second = startAgent(cleanup, hub.address, { name: "a2", key: "A" });
    const refused = await second.serving;
    expect(refused.started).toBe(false);
    expect(refused.error?.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(refused.error?.rawMessage).toBe("too many reverse tunnels for this affinity key (limit 1)");

    await connectAgent(cleanup, hub, { name: "b1", key: "B" });
    expect(hub.handler.allReverseTunnels()).toHaveLength(2);

    // Once A's tunnel ends, A may connect again.
    first.rts.stop();
    await hub.closedTunnelOf("a1");
    await connectAgent(cleanup, hub, { name: "a3", key: "A" });
    const res = await unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {});
    expect(servedBy(res)).toBe("a3");
  });
});

// The test transport itself: real handler and agents, tunnel RPCs in memory.
import { afterEach, describe, expect, it } from "vitest";
import { Code, TunnelError, TunnelServiceHandler, createTunnelClient, openTunnel } from "../src/index.js";
import { inProcessClient, startTestAgent } from "../src/testing.js";
import { Cleanup } from "./support/servers.js";
import { StoreService } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("in-process transport", () => {
  it("carries large messages both ways over forward and reverse tunnels", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0] ?? "") });
    const echo = { get: (item: { value: string }) => ({ value: item.value.split("").reverse().join("") }) };
    handler.registerService(StoreService, echo);
    const agent = await startTestAgent(handler, { metadata: { "device-id": "a" }, register: (s) => s.registerService(StoreService, echo) });
    cleanup.add(() => agent.stop());
    const client = inProcessClient(handler);
    const tunnel = await openTunnel(client);
    cleanup.add(() => {
      tunnel.close();
      client.close();
    });
    const big = `${"a".repeat(1024 * 1024)}z`;
    for (const channel of [tunnel, handler.keyAsChannel("a")]) {
      const answer = await createTunnelClient(StoreService, channel).get({ value: big });
      expect(answer.value.length).toBe(big.length);
      expect(answer.value[0]).toBe("z");
    }
    expect(handler.allReverseTunnels().map((t) => t.peer)).toEqual([agent.client.peer]);
  });

  it("reports a refused agent, and a stopped agent leaves the handler", async () => {
    const handler = new TunnelServiceHandler<string>({
      affinityKey: () => {
        throw new TunnelError(Code.UNAUTHENTICATED, "no token");
      },
    });
    await expect(startTestAgent(handler, { register: () => {} })).rejects.toThrow(/no token/);

    const open = new TunnelServiceHandler<string>();
    const agent = await startTestAgent(open, { register: (s) => s.registerService(StoreService, {}) });
    expect(open.allReverseTunnels()).toHaveLength(1);
    await agent.stop();
    expect((await agent.serving).started).toBe(true);
    const [tunnel] = open.allReverseTunnels();
    if (tunnel !== undefined) {
      await tunnel.done;
    }
    expect(open.allReverseTunnels()).toHaveLength(0);
  });

  it("answers other methods than the tunnel service's with UNIMPLEMENTED", async () => {
    const client = inProcessClient(new TunnelServiceHandler());
    cleanup.add(() => client.close());
    const call = client.makeBidiStreamRequest(
      "/other.Service/Method",
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    call.on("error", () => {}); // as with grpc-js, a failed call also emits "error"
    const status = await new Promise<{ code: number }>((resolve) => call.on("status", resolve));
    expect(status.code).toBe(Code.UNIMPLEMENTED);
  });
});

// TunnelServiceHandler.listTunnels(): the tunnels open now, each once it is
// announced, and none after it ended.
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { openTunnel, TunnelServiceHandler } from "../src/index.js";
import { inProcessClient } from "../src/testing.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("TunnelServiceHandler.listTunnels", () => {
  it("lists each open forward tunnel with its figures, and lets go of one that ended", async () => {
    const handler = new TunnelServiceHandler();
    handler.registerService(TestService, testServiceImpl);
    expect(handler.listTunnels()).toEqual([]);
    const client = inProcessClient(handler, { peer: "in-process:listed" });
    cleanup.add(() => client.close());
    const first = await openTunnel(client);
    const second = await openTunnel(client);
    cleanup.add(() => second.close());
    const listed = handler.listTunnels();
    expect(listed).toHaveLength(2);
    for (const info of listed) {
      expect(info).toMatchObject({ role: "server", direction: "forward", peer: "in-process:listed", activeCalls: 0 });
    }
    first.close();
    await first.done;
    await expect.poll(() => handler.listTunnels().length).toBe(1);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { ReverseTunnelServer, TunnelServiceHandler, unaryCall } from "../src/index.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("reverse tunnel smoke", () => {
  it("server calls the client by key", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("agent-id")[0] ?? "") });
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    const client = tunnelClient(srv.address);
    cleanup.add(() => client.close());
    const rts = new ReverseTunnelServer(client);
    rts.registerService(TestService, testServiceImpl);
    const serving = rts.serve({ metadata: { "agent-id": "a1" } });
    cleanup.add(() => rts.stop());
    const ch = handler.keyAsChannel("a1");
    await ch.waitForReady();
    const res = await unaryCall(ch, TestService.method.unary, { payload: new Uint8Array([5]) });
    expect(res.payload).toEqual(new Uint8Array([5]));
    rts.stop();
    const result = await serving;
    expect(result.started).toBe(true);
  });
});

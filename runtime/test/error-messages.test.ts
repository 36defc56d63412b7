// Messages for the mistakes a newcomer makes first: they say what is wrong
// and what to do, not only that a call failed. (OpenTunnel on a handler
// without services: forward-lifecycle.test.ts.)
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, TunnelServiceHandler, unaryCall } from "../src/index.js";
import { outcome } from "./support/events.js";
import { startAgent } from "./support/reverse.js";
import { Cleanup, startServer } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("messages that say why", () => {
  it("a call by key on a handler without affinityKey explains that every tunnel has the key undefined", async () => {
    const opened: unknown[] = [];
    const handler = new TunnelServiceHandler({ onReverseTunnelOpen: (t) => opened.push(t) });
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    startAgent(cleanup, srv.address, { name: "agent-1" });
    // The agent is connected: it is reachable round-robin and under the key undefined...
    await handler.asChannel().waitForReady();
    expect(opened).toHaveLength(1);
    expect(handler.keyAsChannel(undefined).ready()).toBe(true);

    // ...but not under the key its metadata carries.
    const res = await outcome(unaryCall(handler.keyAsChannel("agent-1"), TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage:
        'no reverse tunnel for key "agent-1": this TunnelServiceHandler has no affinityKey option, so all its reverse tunnels (1 open)' +
        " have the key undefined; set affinityKey to key them, e.g. by a tunnel metadata value",
    });
  });

  it("a handler with affinityKey keeps the short message", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: () => "a" });
    const res = await outcome(unaryCall(handler.keyAsChannel("b"), TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "b"' });
  });
});

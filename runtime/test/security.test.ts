import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, ReverseTunnelServer, TunnelError, TunnelServiceHandler, bidiStreamCall, unaryCall } from "../src/index.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";
import { forwardFixture } from "./support/forward-fixture.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

describe("isolation between tunnels", () => {
  it("each forward call's handler sees its own tunnel's metadata, under concurrency", async () => {
    const { client } = await forwardFixture(cleanup, {
      impl: { unary: async (_req, ctx) => ({ payload: Buffer.from(String(ctx.tunnelMetadata.get("x-tenant")[0])) }) },
    });
    const tenants = ["alpha", "beta", "gamma"];
    const tunnels = await Promise.all(tenants.map((tenant) => openTunnel(client, { metadata: { "x-tenant": tenant } })));
    for (const tunnel of tunnels) cleanup.add(() => tunnel.close());
    const calls = Array.from({ length: 90 }, (_, i) => {
      const which = i % tunnels.length;
      return unaryCall(tunnels[which], TestService.method.unary, {}).then((res) => text(res.payload) === tenants[which]);
    });
    expect((await Promise.all(calls)).every(Boolean)).toBe(true);
  });

  it("each reverse tunnel keeps its own metadata on both ends", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("x-agent")[0]) });
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    for (const agent of ["a1", "a2"]) {
      const client = tunnelClient(srv.address);
      cleanup.add(() => client.close());
      const rts = new ReverseTunnelServer(client);
      rts.registerService(TestService, {
        unary: async (_req, ctx) => ({ payload: Buffer.from(`${agent}:${ctx.tunnelMetadata.get("x-agent")[0]}`) }),
      });
      void rts.serve({ metadata: { "x-agent": agent } });
      cleanup.add(() => rts.stop());
      await handler.keyAsChannel(agent).waitForReady();
    }
    for (const agent of ["a1", "a2", "a1", "a2"]) {
      const res = await unaryCall(handler.keyAsChannel(agent), TestService.method.unary, {});
      expect(text(res.payload)).toBe(`${agent}:${agent}`);
    }
    expect(
      handler
        .allReverseTunnels()
        .map((t) => t.metadata.get("x-agent")[0])
        .sort(),
    ).toEqual(["a1", "a2"]);
  });
});

describe("errors sent to a peer", () => {
  const throwers: Record<string, () => never> = {
    "an Error": () => {
      throw new Error("plain failure");
    },
    "a TypeError from a bug": () => {
      const value = undefined as unknown as { field: { deeper: string } };
      return value.field.deeper as never;
    },
    "a string": () => {
      throw "just a string";
    },
    "an object with a stack": () => {
      throw { message: "object", stack: "Error: object\n    at secret (/srv/app/internal.js:1:1)" };
    },
  };
  for (const [name, thrower] of Object.entries(throwers)) {
    it(`carry no stack trace or file path when a handler throws ${name}`, async () => {
      const { tunnel } = await forwardFixture(cleanup, { impl: { ...testServiceImpl, unary: thrower } });
      const error = (await unaryCall(tunnel, TestService.method.unary, {}).catch((e: unknown) => e)) as TunnelError;
      expect(error).toBeInstanceOf(TunnelError);
      expect(error.code).toBe(Code.UNKNOWN);
      expect(error.rawMessage).not.toMatch(/\n\s+at |\.js:\d+|\.ts:\d+/);
      expect(error.details).toEqual([]);
    });
  }
});

describe("handlers that fail at once", () => {
  it("a bidi implementation that throws synchronously fails only its call", async () => {
    const { tunnel } = await forwardFixture(cleanup, {
      impl: {
        ...testServiceImpl,
        bidiStream: () => {
          throw new TunnelError(Code.FAILED_PRECONDITION, "not now");
        },
      },
    });
    const error = await (async () => {
      for await (const _ of bidiStreamCall(tunnel, TestService.method.bidiStream, (async function* () {})())) {
        // none
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.FAILED_PRECONDITION, rawMessage: "not now" });
    expect((await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1]) })).payload).toEqual(new Uint8Array([1]));
  });
});

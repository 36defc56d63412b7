// Back-pressure end to end over real grpc-js, and the tunnels a connection
// may carry. With maxPendingControlBytes at 1 byte the tunnel server stops
// reading its tunnel after every answer until that answer is sent (thousands
// of times per test); well-behaved peers must still get everything
// through, in both directions and over reverse tunnels.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TestService, testServiceImpl, type MessageSchema } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, bidiStreamCall, openTunnel, unaryCall, type CallChannel, type ServiceImpl, type TunnelError } from "../src/index.js";
import type { TunnelLimits } from "../src/protocol.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { connectAgent, startHub } from "./support/reverse.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";
import { TunnelServiceHandler } from "../src/index.js";
import { eventually } from "./support/conditions.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Stops reading whenever any answer waits to be sent. */
const eager: Partial<TunnelLimits> = { maxPendingControlBytes: 1 };

const echo: Partial<ServiceImpl<typeof TestService>> = {
  ...testServiceImpl,
  async *bidiStream(requests) {
    for await (const request of requests) yield { payload: request.payload };
  },
};

/** `streams` bidi calls at once, each sending `messages` messages of `size` bytes while reading the echoes. */
async function heavyBidi(channel: CallChannel, streams: number, messages: number, size: number): Promise<void> {
  const payload = new Uint8Array(size).fill(7);
  const calls = Array.from({ length: streams }, async () => {
    async function* requests(): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
      for (let i = 0; i < messages; i++) yield { payload };
    }
    let echoed = 0;
    for await (const response of bidiStreamCall(channel, TestService.method.bidiStream, requests())) {
      expect(response.payload.length).toBe(size);
      echoed++;
    }
    return echoed;
  });
  expect(await Promise.all(calls)).toEqual(Array(streams).fill(messages));
}

/** `n` unary calls at once: many headers and closes waiting at the same time. */
async function unaryBurst(channel: CallChannel, n: number): Promise<void> {
  const payload = new Uint8Array([1, 2, 3]);
  const results = await Promise.all(Array.from({ length: n }, () => unaryCall(channel, TestService.method.unary, { payload })));
  for (const res of results) expect(res.payload).toEqual(payload);
}

describe("back-pressure with well-behaved peers never deadlocks", () => {
  it("forward tunnel: heavy two-way bidi streams and bursts of unary calls complete", async () => {
    const { tunnel } = await forwardFixture(cleanup, { impl: echo, handler: { limits: eager }, tunnel: { limits: eager } });
    await Promise.all([heavyBidi(tunnel, 16, 64, 32 * 1024), unaryBurst(tunnel, 2_000)]);
  }, 60_000);

  it("forward tunnel, revision 0: the same without windows", async () => {
    const { tunnel } = await forwardFixture(cleanup, {
      impl: echo,
      handler: { limits: eager },
      tunnel: { limits: eager, disableFlowControl: true },
    });
    await Promise.all([heavyBidi(tunnel, 8, 64, 32 * 1024), unaryBurst(tunnel, 1_000)]);
  }, 60_000);

  it("reverse tunnel: the agent (the tunnel server) pauses reading, and the hub's calls still complete", async () => {
    const hub = await startHub(cleanup, { limits: eager });
    const agent = await connectAgent(cleanup, hub, { name: "a", impl: echo, rts: { limits: eager } });
    await Promise.all([heavyBidi(agent.tunnel, 16, 64, 32 * 1024), unaryBurst(agent.tunnel, 2_000)]);
  }, 60_000);
});

describe("tunnels per connection", () => {
  it("a TunnelServiceHandler takes at most maxTunnelsPerConnection tunnels (forward and reverse) on one connection; others connect as usual", async () => {
    const handler = new TunnelServiceHandler({ limits: { maxTunnelsPerConnection: 2 } });
    handler.registerService(TestService, testServiceImpl);
    const server = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => server.kill());
    const client = tunnelClient(server.address, { "grpc.use_local_subchannel_pool": 1 });
    cleanup.add(() => client.close());
    const first = await openTunnel(client);
    const second = await openTunnel(client);
    cleanup.add(() => second.close());
    const refused = (await openTunnel(client).catch((e: unknown) => e)) as TunnelError;
    expect(refused).toMatchObject({ code: Code.RESOURCE_EXHAUSTED, rawMessage: "too many tunnels on this connection (limit 2)" });
    // Another connection is not affected.
    const other = tunnelClient(server.address, { "grpc.use_local_subchannel_pool": 1 });
    cleanup.add(() => other.close());
    const elsewhere = await openTunnel(other);
    cleanup.add(() => elsewhere.close());
    expect((await unaryCall(elsewhere, TestService.method.unary, { payload: new Uint8Array([1]) })).payload).toEqual(new Uint8Array([1]));
    // A tunnel gives its place back once its RPC is over.
    first.close();
    const { value: reopened } = await eventually(
      "a tunnel after one closed",
      () => openTunnel(client).catch((e: unknown) => e as TunnelError),
      (result) => !("code" in result),
      5_000,
    );
    cleanup.add(() => (reopened as { close(): void }).close());
  });
});

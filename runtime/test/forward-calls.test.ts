import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import {
  Code,
  openTunnel,
  TunnelError,
  TunnelServiceHandler,
  type TunnelChannel,
  bidiStreamCall,
  clientStreamCall,
  serverStreamCall,
  unaryCall,
} from "../src/index.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function forwardTunnel(): Promise<TunnelChannel> {
  const handler = new TunnelServiceHandler();
  handler.registerService(TestService, testServiceImpl);
  const srv = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => srv.kill());
  const client = tunnelClient(srv.address);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client);
  cleanup.add(() => tunnel.close());
  return tunnel;
}

describe("forward tunnel calls", () => {
  it("unary", async () => {
    const tunnel = await forwardTunnel();
    const res = await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1, 2, 3]) }, { metadata: { "x-test": "a" } });
    expect(res.payload).toEqual(new Uint8Array([1, 2, 3]));
    expect(Buffer.from(res.headers["x-test"]).toString()).toBe("a");
    expect(tunnel.protocolRevision).toBe(1);
  });

  it("server streaming", async () => {
    const tunnel = await forwardTunnel();
    const got: number[] = [];
    for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, { count: 5, payload: new Uint8Array(100) })) {
      got.push(res.payload.length);
    }
    expect(got).toEqual([100, 100, 100, 100, 100]);
  });

  it("client streaming", async () => {
    const tunnel = await forwardTunnel();
    async function* requests() {
      for (let i = 0; i < 3; i++) yield { payload: new Uint8Array([i]) };
    }
    const res = await clientStreamCall(tunnel, TestService.method.clientStream, requests());
    expect(res.count).toBe(3);
    expect(res.payload).toEqual(new Uint8Array([2]));
  });

  it("bidi streaming", async () => {
    const tunnel = await forwardTunnel();
    async function* requests() {
      for (let i = 0; i < 4; i++) yield { payload: new Uint8Array([i]) };
    }
    const counts: number[] = [];
    for await (const res of bidiStreamCall(tunnel, TestService.method.bidiStream, requests())) {
      counts.push(res.count);
    }
    expect(counts).toEqual([1, 2, 3, 4]);
  });

  it("error with details and trailers", async () => {
    const tunnel = await forwardTunnel();
    let trailers: string | undefined;
    const err = await unaryCall(
      tunnel,
      TestService.method.unary,
      { code: Code.NOT_FOUND, trailers: { t: Buffer.from("v") } },
      { onTrailer: (md) => (trailers = String(md.get("t")[0])) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TunnelError);
    expect((err as TunnelError).code).toBe(Code.NOT_FOUND);
    expect((err as TunnelError).rawMessage).toBe("error");
    expect(trailers).toBe("v");
  });

  it("unknown method is UNIMPLEMENTED", async () => {
    const tunnel = await forwardTunnel();
    const stream = tunnel.startCall("/nope.Service/Missing");
    stream.closeSend();
    await expect(stream.read()).rejects.toMatchObject({ code: Code.UNIMPLEMENTED, rawMessage: "nope.Service/Missing not implemented" });
    const res = await unaryCall(tunnel, TestService.method.unary, create(TestService.method.unary.input, { payload: new Uint8Array([9]) }));
    expect(res.payload).toEqual(new Uint8Array([9]));
  });
});

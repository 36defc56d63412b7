import { request as httpRequest } from "node:http";
import { createRegistry } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { serveReflection } from "../../src/gateway.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { startGateway } from "../support/gateway.js";
import { connectAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const keyed = (key: string) => ({ headers: { "tunnel-key": key } });
const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString("utf8");

type Kind = "connect" | "grpc-web";
function transport(kind: Kind, address: string, json: boolean, httpVersion: "1.1" | "2"): Transport {
  const options = { baseUrl: `http://${address}`, httpVersion, useBinaryFormat: !json } as const;
  return kind === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options);
}

describe("gateway: Connect and gRPC-Web (connect-node clients), binary and JSON, HTTP/1.1 and HTTP/2", () => {
  for (const kind of ["connect", "grpc-web"] as const) {
    for (const httpVersion of ["1.1", "2"] as const) {
      it(`${kind} over HTTP/${httpVersion}: unary and server streaming in binary; JSON with descriptors learned by reflection`, async () => {
        const { hub, address } = await startGateway(cleanup);
        const agent = await connectAgent(cleanup, hub, { name: "camera-3" });
        serveReflection(agent.rts, [TestService]);
        const binary = createClient(TestService, transport(kind, address, false, httpVersion));
        const answer = await binary.unary({ payload: Buffer.from("bin") }, keyed("camera-3"));
        expect(text(answer.payload)).toBe("bin");
        expect(text(answer.headers["x-served-by"])).toBe("camera-3");
        expect(answer.headers["tunnel-key"]).toBeUndefined();
        const ticks: string[] = [];
        for await (const m of binary.serverStream({ payload: Buffer.from("t"), count: 3 }, keyed("camera-3"))) {
          ticks.push(text(m.payload));
        }
        expect(ticks).toEqual(["t", "t", "t"]);

        const json = createClient(TestService, transport(kind, address, true, httpVersion));
        const viaJson = await json.unary({ payload: Buffer.from("json") }, keyed("camera-3"));
        expect(text(viaJson.payload)).toBe("json");
        const jsonTicks: number[] = [];
        for await (const m of json.serverStream({ count: 2 }, keyed("camera-3"))) {
          jsonTicks.push(m.payload.length);
        }
        expect(jsonTicks).toEqual([0, 0]);
      });
    }
  }

  it("errors keep their code, message and details; response headers and trailers arrive", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const detail = anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "LENS_CAP_ON" }));
    for (const kind of ["connect", "grpc-web"] as const) {
      const client = createClient(TestService, transport(kind, address, false, "1.1"));
      const error = await client.unary({ code: ConnectCode.FailedPrecondition, errorDetails: [detail] }, keyed("camera-3")).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code).toBe(ConnectCode.FailedPrecondition);
      expect(error?.rawMessage).toBe("error");
      expect(error?.findDetails(ErrorInfoSchema).map((d) => d.reason)).toEqual(["LENS_CAP_ON"]);

      let headers: Headers | undefined;
      let trailers: Headers | undefined;
      await client.unary(
        { headers: { "x-h": Buffer.from("1") }, trailers: { "x-t": Buffer.from("2") } },
        { ...keyed("camera-3"), onHeader: (h) => (headers = h), onTrailer: (t) => (trailers = t) },
      );
      expect(headers?.get("x-h")).toBe("1");
      expect(trailers?.get("x-t")).toBe("2");

      const missing = await client.unary({}).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(missing?.code).toBe(ConnectCode.InvalidArgument);
      const denied = await createClient(TestService, transport(kind, address, false, "2"))
        .unary({}, keyed("camera-404"))
        .then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
      expect(denied?.code).toBe(ConnectCode.Unavailable);
    }
  });

  it("JSON without reflection on the agent fails UNIMPLEMENTED naming the fix; with the descriptors option it works", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const json = createClient(TestService, transport("connect", address, true, "1.1"));
    const error = await json.unary({}, keyed("camera-3")).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(ConnectCode.Unimplemented);
    expect(error?.rawMessage).toMatch(/serves no gRPC reflection.*descriptors option/);

    const described = await startGateway(cleanup, { descriptors: createRegistry(TestService.file) });
    await connectAgent(cleanup, described.hub, { name: "camera-3" });
    const withDescriptors = createClient(TestService, transport("connect", described.address, true, "1.1"));
    expect(text((await withDescriptors.unary({ payload: Buffer.from("d") }, keyed("camera-3"))).payload)).toBe("d");
  });

  it("curl-style JSON over HTTP/1.1: a plain POST with a JSON body gets JSON back", async () => {
    const { hub, address } = await startGateway(cleanup, { descriptors: createRegistry(TestService.file) });
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const [host, port] = address.split(":");
    const post = (body: string, headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host, port, method: "POST", path: "/grpchantesting.TestService/Unary", headers }, (res) => {
          let data = "";
          res.on("data", (c) => (data += c));
          res.on("end", () => resolve({ status: res.statusCode!, body: data }));
        });
        req.on("error", reject);
        req.end(body);
      });
    const ok = await post(JSON.stringify({ payload: Buffer.from("curl").toString("base64") }), {
      "content-type": "application/json",
      "tunnel-key": "camera-3",
    });
    expect(ok.status).toBe(200);
    expect(Buffer.from((JSON.parse(ok.body) as { payload: string }).payload, "base64").toString()).toBe("curl");
    const malformed = await post("{not json", { "content-type": "application/json", "tunnel-key": "camera-3" });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ code: "invalid_argument" });
    const noKey = await post("{}", { "content-type": "application/json" });
    expect(noKey.status).toBe(400);
    expect(JSON.parse(noKey.body).message).toMatch(/tunnel-key/);
    const notRpc = await post("x", { "content-type": "text/plain" });
    expect(notRpc.status).toBe(415);
  });
});

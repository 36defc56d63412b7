import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { TunnelError } from "../../src/index.js";
import {
  callBidi,
  callClientStream,
  callServerStream,
  callUnary,
  collect,
  failure,
  gatewayClient,
  keyed,
  startGateway,
} from "../support/gateway.js";
import { connectAgent } from "../support/reverse.js";
import { Cleanup, startServer } from "../support/servers.js";
import { createTunnelGateway } from "../../src/gateway.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString("utf8");

describe("gateway: any method, forwarded in bytes to the agent of the key (gRPC over HTTP/2)", () => {
  it("unary: the agent answers; request metadata reaches it without the key header; headers and trailers come back", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    await connectAgent(cleanup, hub, { name: "camera-4" });
    const client = gatewayClient(cleanup, address);
    const { response, headers, trailers } = await callUnary(
      client,
      keyed("camera-3", { "x-trace": "abc", "x-blob-bin": Buffer.from([0, 1, 2]) }),
      {
        payload: Buffer.from("hello"),
        headers: { "x-answer": Buffer.from("42") },
        trailers: { "x-done-bin": Buffer.from([9, 8]) },
      },
    );
    expect(text(response.payload)).toBe("hello");
    expect(text(response.headers["x-served-by"])).toBe("camera-3");
    expect(text(response.headers["x-trace"])).toBe("abc");
    expect([...(response.headers["x-blob-bin"] ?? [])]).toEqual([0, 1, 2]);
    expect(response.headers["tunnel-key"]).toBeUndefined();
    expect(headers.get("x-answer")).toEqual(["42"]);
    expect(trailers.get("x-done-bin")).toEqual([Buffer.from([9, 8])]);

    const other = await callUnary(client, keyed("camera-4"), { payload: Buffer.from("x") });
    expect(text(other.response.headers["x-served-by"])).toBe("camera-4");
  });

  it("server streaming, client streaming and bidi streaming pass through", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);

    const streamed = await collect(callServerStream(client, keyed("camera-3"), { payload: Buffer.from("s"), count: 5 }));
    expect(streamed.error).toBeUndefined();
    expect(streamed.messages.map((m) => text(m.payload))).toEqual(["s", "s", "s", "s", "s"]);

    const summed = await callClientStream(client, keyed("camera-3"), [
      { payload: Buffer.from("a") },
      { payload: Buffer.from("b") },
      { payload: Buffer.from("c") },
    ]);
    expect(summed.count).toBe(3);
    expect(text(summed.payload)).toBe("c");

    const bidi = callBidi(client, keyed("camera-3"));
    const answers = collect(bidi);
    for (const word of ["x", "y", "z"]) {
      bidi.write({ payload: Buffer.from(word) });
    }
    bidi.end();
    const { messages, error } = await answers;
    expect(error).toBeUndefined();
    expect(messages.map((m) => [text(m.payload), m.count])).toEqual([
      ["x", 1],
      ["y", 2],
      ["z", 3],
    ]);
  });

  it("an error's code, message, trailers and details reach the caller as grpc-status-details-bin", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);
    const detail = anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "LENS_CAP_ON", domain: "camera" }));
    const error = await failure(
      callUnary(client, keyed("camera-3"), {
        code: grpc.status.FAILED_PRECONDITION,
        errorDetails: [detail],
        trailers: { "x-why": Buffer.from("cap") },
      }),
    );
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toBe("error");
    expect(error.metadata.get("x-why")).toEqual(["cap"]);
    const [bin] = error.metadata.get("grpc-status-details-bin");
    const status = create(StatusSchema, { code: grpc.status.FAILED_PRECONDITION, message: "error", details: [detail] });
    expect(bin).toEqual(Buffer.from(toBinary(StatusSchema, status)));
  });

  it("bad input: no key is INVALID_ARGUMENT, an unknown key UNAVAILABLE, an unknown method UNIMPLEMENTED from the agent", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);

    const missing = await failure(callUnary(client, keyed(undefined), {}));
    expect(missing.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(missing.details).toMatch(/tunnel-key request header/);

    const unknown = await failure(callUnary(client, keyed("camera-99"), {}));
    expect(unknown.code).toBe(grpc.status.UNAVAILABLE);
    expect(unknown.details).toMatch(/no reverse tunnel for key "camera-99"/);

    const method = await failure(callUnary(client, keyed("camera-3"), {}, {}, "/grpchantesting.TestService/NoSuchMethod"));
    expect(method.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(method.details).toMatch(/NoSuchMethod/);
  });

  it("authorize: false is PERMISSION_DENIED, a thrown TunnelError its own status; the agent never sees a denied call", async () => {
    let served = 0;
    const { hub, address } = await startGateway(cleanup, {
      authorize: (call, key) => {
        const token = call.metadata.get("authorization")[0];
        if (token === undefined) {
          throw new TunnelError(grpc.status.UNAUTHENTICATED, "a bearer token is required");
        }
        return token === `Bearer for-${key}`;
      },
      dropHeaders: ["authorization"],
    });
    await connectAgent(cleanup, hub, {
      name: "camera-3",
      impl: {
        async unary(req, ctx) {
          served++;
          return { payload: req.payload, headers: Object.fromEntries(Object.keys(ctx.metadata.toJSON()).map((k) => [k, Buffer.from("")])) };
        },
      },
    });
    const client = gatewayClient(cleanup, address);
    const anonymous = await failure(callUnary(client, keyed("camera-3"), {}));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(anonymous.details).toBe("a bearer token is required");
    const wrong = await failure(callUnary(client, keyed("camera-3", { authorization: "Bearer for-camera-4" }), {}));
    expect(wrong.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(wrong.details).toMatch(/may not call \/grpchantesting.TestService\/Unary on the agent with key "camera-3"/);
    expect(served).toBe(0);
    const allowed = await callUnary(client, keyed("camera-3", { authorization: "Bearer for-camera-3" }), { payload: Buffer.from("ok") });
    expect(text(allowed.response.payload)).toBe("ok");
    expect(Object.keys(allowed.response.headers)).not.toContain("authorization"); // dropped before the agent
    expect(served).toBe(1);
  });

  it("createTunnelGateway without authorize is a TypeError naming allowAll", async () => {
    const { hub } = await startGateway(cleanup);
    expect(() => createTunnelGateway(hub.handler, {} as never)).toThrow(/authorize option is required.*allowAll/);
  });

  it("the key can come from a function of the call (here a header of the caller's choosing)", async () => {
    const { hub, address } = await startGateway(cleanup, { key: (call) => String(call.metadata.get("x-device")[0] ?? "") });
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);
    const md = new grpc.Metadata();
    md.set("x-device", "camera-3");
    const { response } = await callUnary(client, md, { payload: Buffer.from("by function") });
    expect(text(response.headers["x-served-by"])).toBe("camera-3");
  });
});

describe("gateway: grpc-js pass-through handlers from service descriptors", () => {
  it("serves the given services' methods on a grpc-js server, health too; other methods are grpc-js's UNIMPLEMENTED", async () => {
    const { hub } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const gateway = createTunnelGateway(hub.handler, { authorize: () => true });
    const server = await startServer((s) => {
      for (const [definition, implementation] of gateway.grpcJsServices([TestService])) {
        s.addService(definition, implementation);
      }
    });
    cleanup.add(() => server.kill());
    const client = gatewayClient(cleanup, server.address);
    const { response, headers } = await callUnary(client, keyed("camera-3"), {
      payload: Buffer.from("via grpc-js"),
      headers: { "x-h": Buffer.from("1") },
    });
    expect(text(response.payload)).toBe("via grpc-js");
    expect(response.headers["tunnel-key"]).toBeUndefined();
    expect(headers.get("x-h")).toEqual(["1"]);
    const streamed = await collect(callServerStream(client, keyed("camera-3"), { payload: Buffer.from("s"), count: 3 }));
    expect(streamed.messages).toHaveLength(3);
    const denied = await failure(callUnary(client, keyed(undefined), {}));
    expect(denied.code).toBe(grpc.status.INVALID_ARGUMENT);
    const error = await failure(callUnary(client, keyed("camera-3"), { code: grpc.status.NOT_FOUND }));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    const unknown = await failure(callUnary(client, keyed("camera-3"), {}, {}, "/other.Service/Method"));
    expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

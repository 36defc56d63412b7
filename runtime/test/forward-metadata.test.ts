import { create } from "@bufbuild/protobuf";
import { anyPack, DurationSchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, TunnelError, serverStreamCall, unaryCall } from "../src/index.js";
import { Cleanup } from "./support/servers.js";
import { forwardFixture } from "./support/forward-fixture.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("metadata, headers, trailers and status", () => {
  it("round-trips request metadata, response headers and trailers, text and binary", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    let headers: Metadata | undefined;
    let trailers: Metadata | undefined;
    const binary = new Uint8Array([0x68, 0x69, 0xe2, 0x82, 0xac]); // "hi€", valid UTF-8
    const res = await unaryCall(
      tunnel,
      TestService.method.unary,
      {
        payload: new Uint8Array([1]),
        headers: { "x-h": Buffer.from("hv"), "x-h-bin": binary },
        trailers: { "x-t": Buffer.from("tv"), "x-t-bin": new Uint8Array([0, 1, 2]) },
      },
      {
        metadata: { "x-req": ["one", "two"], "x-req-bin": new Uint8Array([0xc3, 0xa9]) },
        onHeader: (md) => (headers = md),
        onTrailer: (md) => (trailers = md),
      },
    );
    // The service echoes the last value of each request key.
    expect(Buffer.from(res.headers["x-req"]).toString()).toBe("two");
    expect(res.headers["x-req-bin"]).toEqual(new Uint8Array([0xc3, 0xa9]));
    expect(res.headers["grpc-timeout"]).toBeUndefined();
    expect(headers?.get("x-h")).toEqual(["hv"]);
    expect(headers?.get("x-h-bin")).toEqual([Buffer.from(binary)]);
    expect(trailers?.get("x-t")).toEqual(["tv"]);
    expect(trailers?.get("x-t-bin")).toEqual([Buffer.from([0, 1, 2])]);
  });

  it("carries error code, message, details and trailers", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const details = [
      anyPack(StringValueSchema, create(StringValueSchema, { value: "why" })),
      anyPack(DurationSchema, create(DurationSchema, { seconds: 3n })),
    ];
    let headers: Metadata | undefined;
    const error = await unaryCall(
      tunnel,
      TestService.method.unary,
      {
        code: Code.FAILED_PRECONDITION,
        errorDetails: details,
        headers: { "x-h": Buffer.from("1") },
        trailers: { "x-t": Buffer.from("2") },
      },
      { onHeader: (md) => (headers = md) },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TunnelError);
    const err = error as TunnelError;
    expect(err.code).toBe(Code.FAILED_PRECONDITION);
    expect(err.rawMessage).toBe("error");
    expect(err.message).toBe("FAILED_PRECONDITION: error");
    expect(err.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["why"]);
    expect(err.findDetails(DurationSchema).map((d) => d.seconds)).toEqual([3n]);
    expect(err.metadata.get("x-t")).toEqual(["2"]);
    expect(headers?.get("x-h")).toEqual(["1"]);
  });

  it("streams keep their messages when they end with an error", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const got: number[] = [];
    let error: unknown;
    try {
      for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, {
        count: 3,
        code: Code.ABORTED,
        payload: new Uint8Array([7]),
      })) {
        got.push(res.payload[0]);
      }
    } catch (e) {
      error = e;
    }
    expect(got).toEqual([7, 7, 7]);
    expect(error).toMatchObject({ code: Code.ABORTED, rawMessage: "error" });
  });

  it("refuses to send -bin metadata that is not valid UTF-8, naming the key, and the tunnel stays up", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const error = await unaryCall(tunnel, TestService.method.unary, {}, { metadata: { "x-raw-bin": new Uint8Array([0xff, 0xfe]) } }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: Code.INTERNAL });
    expect((error as TunnelError).rawMessage).toContain("x-raw-bin");
    const ok = await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1]) });
    expect(ok.payload).toEqual(new Uint8Array([1]));
  });

  it("lets handlers read the tunnel metadata, separate from call metadata", async () => {
    const { tunnel } = await forwardFixture(cleanup, {
      tunnel: { metadata: { "x-tunnel": "t1" } },
      impl: {
        unary: (_req, ctx) => ({
          payload: Buffer.from(`${ctx.tunnelMetadata.get("x-tunnel")[0]}/${ctx.metadata.get("x-tunnel").length}`),
        }),
      },
    });
    const res = await unaryCall(tunnel, TestService.method.unary, {}, { metadata: { "x-call": "c" } });
    expect(Buffer.from(res.payload).toString()).toBe("t1/0");
    expect(tunnel.metadata.get("x-tunnel")).toEqual(["t1"]);
  });

  it("turns a handler's plain Error into UNKNOWN without leaking its stack", async () => {
    const { tunnel } = await forwardFixture(cleanup, {
      impl: {
        unary: () => {
          throw new Error("boom");
        },
      },
    });
    const error = (await unaryCall(tunnel, TestService.method.unary, {}).catch((e: unknown) => e)) as TunnelError;
    expect(error.code).toBe(Code.UNKNOWN);
    expect(error.rawMessage).toBe("boom");
    expect(error.rawMessage).not.toContain("    at ");
  });
});

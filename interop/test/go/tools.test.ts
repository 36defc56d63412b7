// The real tools other tests (the gateway's) call through scripts/go-tools.mjs:
// grpcurl, installed with `go install` at its pinned version into .cache/go,
// and Debian's gRPC for Python; each calls TestService on a grpc-js server.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { grpcService, TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureGrpcurl, ensurePythonGrpc } from "../../../scripts/go-tools.mjs";
import { bind } from "./support/pairings.js";
import { runProgram } from "./support/run-program.js";

const PROTO_DIR = fileURLToPath(new URL("../../proto", import.meta.url));
const server = new grpc.Server();
let address: string;

beforeAll(async () => {
  server.addService(...grpcService(TestService, testServiceImpl));
  address = await bind(server);
});
afterAll(() => server.forceShutdown());

describe("grpcurl (ensureGrpcurl)", () => {
  // A fresh machine downloads and builds it once (about a minute on 2 cores).
  it("is installed on demand and calls a unary method and a failing one", { timeout: 300_000 }, async () => {
    const grpcurl = await ensureGrpcurl();
    const args = ["-plaintext", "-import-path", PROTO_DIR, "-proto", "grpchantesting/test.proto"];
    const ok = await runProgram(grpcurl, [...args, "-d", '{"payload": "AQI="}', address, "grpchantesting.TestService/Unary"]);
    expect(ok).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(ok.stdout)).toMatchObject({ payload: "AQI=" });
    const failed = await runProgram(grpcurl, [...args, "-d", '{"code": 5}', address, "grpchantesting.TestService/Unary"]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("Code: NotFound");
  });
});

describe("Python's grpc (ensurePythonGrpc)", () => {
  it("is Debian's python3-grpcio under /usr/bin/python3, and calls TestService with bytes in and out", async () => {
    const { python, grpcVersion } = await ensurePythonGrpc();
    expect(python).toBe("/usr/bin/python3");
    expect(grpcVersion).toMatch(/^\d+\.\d+/);
    const script = [
      "import grpc, sys",
      "unary = grpc.insecure_channel(sys.argv[1]).unary_unary('/grpchantesting.TestService/Unary')",
      "sys.stdout.write(unary(bytes([0x0a, 0x02, 0x01, 0x02]), timeout=10).hex())",
    ].join("\n");
    const { code, stdout, stderr } = await runProgram(python, ["-c", script, address]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    // Message{payload: 01 02, headers: the metadata the server saw}: the payload field comes first.
    expect(stdout.startsWith("0a020102")).toBe(true);
  });
});

// The grpcurl and Python snippets of docs/gateway.md, run as they are
// written (address substituted) against a gateway with a real agent.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureGrpcurl } from "../../../scripts/go-tools.mjs";
import { readSnippets, replaceOrFail, snippet } from "../../../test/support/snippets.js";
import { serveReflection } from "../../src/gateway.js";
import { startGateway } from "../support/gateway.js";
import { runPython } from "../support/python.js";
import { connectAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const docs = readSnippets(fileURLToPath(new URL("../../../docs/gateway.md", import.meta.url)));
const DOCS_ADDRESS = "localhost:8080";
let grpcurl = "";
beforeAll(async () => {
  grpcurl = await ensureGrpcurl();
}, 300_000);

/** Runs a shell snippet with `grpcurl` being the pinned binary; resolves with stdout, rejects with stderr. */
function shell(command: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("sh", ["-c", replaceOrFail(command, "grpcurl ", `${grpcurl} `)], { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

async function gatewayWithAgent(): Promise<string> {
  const { hub, address } = await startGateway(cleanup);
  const agent = await connectAgent(cleanup, hub, { name: "camera-3" });
  serveReflection(agent.rts, [TestService]);
  return address;
}

describe("docs/gateway.md: grpcurl through the gateway, with reflection served by the agent over its tunnel", () => {
  it("list, describe and a call with JSON", async () => {
    const address = await gatewayWithAgent();
    const at = (name: string) => replaceOrFail(snippet(docs, name), DOCS_ADDRESS, address);

    const services = (await shell(at("grpcurl list"))).trim().split("\n");
    expect(services).toContain("grpchantesting.TestService");
    expect(services).toContain("grpc.reflection.v1.ServerReflection");

    const described = await shell(at("grpcurl describe"));
    expect(described).toMatch(/rpc Unary \( \.grpchantesting\.Message \) returns \( \.grpchantesting\.Message \)/);

    const answer = JSON.parse(await shell(at("grpcurl call"))) as { payload: string; headers: Record<string, string> };
    expect(Buffer.from(answer.payload, "base64").toString()).toBe("hello");
    expect(Buffer.from(answer.headers["x-served-by"]!, "base64").toString()).toBe("camera-3");
  });

  it("a health check of a key through the gateway's own reflection; unknown keys are NOT_SERVING", async () => {
    const address = await gatewayWithAgent();
    const health = replaceOrFail(snippet(docs, "grpcurl health"), DOCS_ADDRESS, address);
    expect(JSON.parse(await shell(health))).toEqual({ status: "SERVING" });
    expect(JSON.parse(await shell(replaceOrFail(health, "camera-3", "camera-404")))).toEqual({ status: "NOT_SERVING" });
    expect((await shell(`grpcurl -plaintext ${address} list`)).trim().split("\n")).toContain("grpc.health.v1.Health");
  });

  it("grpcurl without a key (the proto given locally) gets INVALID_ARGUMENT naming the header", async () => {
    const address = await gatewayWithAgent();
    const protos = fileURLToPath(new URL("../../../interop/proto", import.meta.url));
    const error = await shell(
      `grpcurl -plaintext -import-path ${protos} -proto grpchantesting/test.proto -d '{}' ${address} grpchantesting.TestService/Unary`,
    ).then(
      () => "",
      (e: Error) => e.message,
    );
    expect(error).toMatch(/Code: InvalidArgument/);
    expect(error).toMatch(/tunnel-key request header/);
  });
});

describe("docs/gateway.md: the Python snippet", () => {
  it("runs as written and prints the echoed payload", async () => {
    const address = await gatewayWithAgent();
    const program = replaceOrFail(snippet(docs, "python"), DOCS_ADDRESS, address);
    expect((await runPython(["-c", program])).trim()).toBe("b'\\n\\x02hi'");
  });
});

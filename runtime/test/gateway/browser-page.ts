// The script of the browser test's page (bundled by esbuild): calls an
// agent through the gateway with @connectrpc/connect-web, over Connect and
// gRPC-Web, binary and JSON, and writes what happened into #result.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { TestService } from "../../../interop/src/gen/grpchantesting/test_pb.js";

/** The page's globals this script uses (the tests' TypeScript has no DOM library). */
const page = globalThis as unknown as {
  location: { origin: string };
  document: { getElementById(id: string): { textContent: string | null; dataset: Record<string, string> } };
};
const headers = { "tunnel-key": "camera-3" };
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function run(): Promise<Record<string, unknown>> {
  const baseUrl = page.location.origin;
  const results: Record<string, unknown> = {};
  for (const [name, transport] of [
    ["connect-json", createConnectTransport({ baseUrl })],
    ["connect-binary", createConnectTransport({ baseUrl, useBinaryFormat: true })],
    ["grpc-web", createGrpcWebTransport({ baseUrl })],
  ] as const) {
    const client = createClient(TestService, transport);
    const answer = await client.unary({ payload: new TextEncoder().encode(`from ${name}`) }, { headers });
    const ticks: string[] = [];
    for await (const m of client.serverStream({ payload: new TextEncoder().encode("tick"), count: 3 }, { headers })) {
      ticks.push(text(m.payload));
    }
    let denied = "";
    try {
      await client.unary({}, { headers: { "tunnel-key": "vault-1" } });
    } catch (e) {
      const error = ConnectError.from(e);
      denied = `${Code[error.code]}: ${error.rawMessage}`;
    }
    results[name] = { payload: text(answer.payload), servedBy: text(answer.headers["x-served-by"] ?? new Uint8Array()), ticks, denied };
  }
  return results;
}

run().then(
  (results) => {
    const out = page.document.getElementById("result");
    out.textContent = JSON.stringify(results);
    out.dataset.state = "done";
  },
  (e: unknown) => {
    const out = page.document.getElementById("result");
    out.textContent = String(e);
    out.dataset.state = "failed";
  },
);

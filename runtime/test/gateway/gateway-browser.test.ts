import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { allowAll, createTunnelGateway, serveReflection } from "../../src/gateway.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { launchChromium } from "../support/chromium.js";
import { Cleanup } from "../support/servers.js";

let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
let script = "";

beforeAll(async () => {
  const bundled = await build({
    entryPoints: [fileURLToPath(new URL("./browser-page.ts", import.meta.url))],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
  });
  script = bundled.outputFiles[0]!.text;
  chromium = await launchChromium("the gateway's browser test");
}, 60_000);

afterAll(() => chromium?.close());

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("gateway: a real browser (headless Chromium) calls an agent with @connectrpc/connect-web", () => {
  it("Connect (JSON by reflection through the tunnel, and binary) and gRPC-Web over HTTP/1.1: unary, server streaming, a denial", async () => {
    const hub = await startHub<string>(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "camera-3" });
    serveReflection(agent.rts, [TestService]);
    await connectAgent(cleanup, hub, { name: "vault-1" });
    const gateway = createTunnelGateway(hub.handler, { authorize: (call, key) => allowAll(call, key) && key !== "vault-1" });
    // The page and the gateway share one origin: the gateway's request handler, the page where it calls next().
    const server = createServer((req, res) =>
      gateway.requestHandler(req, res, () => {
        if (req.url === "/page.js") {
          res.writeHead(200, { "content-type": "text/javascript" }).end(script);
        } else {
          res
            .writeHead(200, { "content-type": "text/html" })
            .end('<!doctype html><div id="result"></div><script type="module" src="/page.js"></script>');
        }
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanup.add(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const page = await chromium!.browser.newPage();
    cleanup.add(() => page.close());
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.locator("#result[data-state]").waitFor({ timeout: 20_000 });
    const text = (await page.locator("#result").textContent()) ?? "";
    expect(await page.locator("#result").getAttribute("data-state"), text).toBe("done");
    const results = JSON.parse(text) as Record<string, { payload: string; servedBy: string; ticks: string[]; denied: string }>;
    for (const name of ["connect-json", "connect-binary", "grpc-web"]) {
      expect(results[name]).toEqual({
        payload: `from ${name}`,
        servedBy: "camera-3",
        ticks: ["tick", "tick", "tick"],
        denied: expect.stringMatching(/^PermissionDenied: the caller may not call .* key "vault-1"$/),
      });
    }
    expect(problems).toEqual([]);
  });
});

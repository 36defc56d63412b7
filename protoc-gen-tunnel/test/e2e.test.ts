import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ReverseTunnelServer,
  TunnelServiceHandler,
  openTunnel,
  withInterceptors,
  Code,
  type CallChannel,
  type CallInterceptor,
  type HandlerInterceptor,
  type HandlerContext,
} from "@protoc-gen-tunnel/runtime";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bufGenerate } from "./support/buf-generate.js";
import { scratchDir, testProtoDir } from "./support/codegen.js";
import { Cleanup, startServer, tunnelClient } from "../../runtime/test/support/servers.js";

// `buf generate` with both plugins on a test proto, then real calls over
// forward and reverse tunnels made only through the generated API.
// Vitest does not type-check, so the generated module is described here by
// the members this test uses.
interface EchoResponse {
  text: string;
  index: number;
}
interface EchoRequest {
  text: string;
  count: number;
}
type Init = Partial<EchoRequest>;
interface EchoClient {
  echo(request: Init, options?: object): Promise<EchoResponse>;
  expand(request: Init, options?: object): AsyncIterable<EchoResponse>;
  collect(requests: AsyncIterable<Init>, options?: object): Promise<EchoResponse>;
  chat(requests: AsyncIterable<Init>, options?: object): AsyncIterable<EchoResponse>;
  oldEcho(request: Init, options?: object): Promise<EchoResponse>;
}
interface Generated {
  EchoServiceTunnelClient: new (channel: CallChannel) => EchoClient;
  registerEchoService(registrar: unknown, impl: object): void;
  echoServiceClientForKey<K>(handler: TunnelServiceHandler<K>, key: K): EchoClient;
  echoServiceAnyAgentClient<K>(handler: TunnelServiceHandler<K>): EchoClient;
  /** The deprecated old name of echoServiceAnyAgentClient. */
  echoServiceClient<K>(handler: TunnelServiceHandler<K>): EchoClient;
}

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** EchoService answering as `name`; OldEcho is left out on purpose. */
function echoImpl(name: string) {
  return {
    async echo(request: EchoRequest, context: HandlerContext) {
      context.responseHeaders.set("x-served-by", name);
      context.responseTrailers.set("x-user", String(context.metadata.get("x-user")[0] ?? ""));
      return { text: `${name}:${request.text}`, index: context.deadline === undefined ? 0 : 1 };
    },
    async *expand(request: EchoRequest) {
      for (let i = 0; i < request.count; i++) {
        yield { text: `${name}:${request.text}`, index: i };
      }
    },
    async collect(requests: AsyncIterable<EchoRequest>) {
      const texts: string[] = [];
      for await (const r of requests) {
        texts.push(r.text);
      }
      return { text: `${name}:${texts.join("+")}`, index: texts.length };
    },
    async *chat(requests: AsyncIterable<EchoRequest>) {
      let i = 0;
      for await (const r of requests) {
        yield { text: `${name}:${r.text.toUpperCase()}`, index: i++ };
      }
    },
  };
}

async function* texts(...values: string[]) {
  for (const text of values) {
    yield { text };
  }
}

async function collectAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) {
    out.push(item);
  }
  return out;
}

// Once with TypeScript output, once with JavaScript (target=js+dts), which
// the plugin prints itself rather than transpiling.
describe.each([
  { target: "ts", module: "kinds_tunnel.ts" },
  { target: "js+dts", module: "kinds_tunnel.js" },
])("generated code over real tunnels (buf generate, target=$target)", ({ target, module }) => {
  const scratch = scratchDir("e2e");
  let gen: Generated;

  beforeAll(async () => {
    const out = bufGenerate(scratch.path, testProtoDir, "test/kinds/v1/kinds.proto", target);
    gen = (await import(pathToFileURL(join(out, "test/kinds/v1", module)).href)) as Generated;
  }, 60_000);
  afterAll(() => scratch.remove());

  /** `handler` serving EchoService as "server" on a real server, and a forward tunnel to it. */
  async function echoServerTunnel(handler: TunnelServiceHandler) {
    gen.registerEchoService(handler, echoImpl("server"));
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    const client = tunnelClient(srv.address);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client);
    cleanup.add(() => tunnel.close());
    return tunnel;
  }

  it("forward tunnel: every method kind, call options, UNIMPLEMENTED", async () => {
    const tunnel = await echoServerTunnel(new TunnelServiceHandler());
    const echo = new gen.EchoServiceTunnelClient(tunnel);

    let servedBy = "";
    let user = "";
    const res = await echo.echo(
      { text: "hi" },
      {
        metadata: { "x-user": "ana" },
        timeoutMs: 5_000,
        onHeader: (h: { get(k: string): unknown[] }) => (servedBy = String(h.get("x-served-by")[0])),
        onTrailer: (t: { get(k: string): unknown[] }) => (user = String(t.get("x-user")[0])),
      },
    );
    expect(res).toMatchObject({ text: "server:hi", index: 1 });
    expect([servedBy, user]).toEqual(["server", "ana"]);

    const expanded = await collectAll(echo.expand({ text: "x", count: 3 }));
    expect(expanded.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(await echo.collect(texts("a", "b", "c"))).toMatchObject({ text: "server:a+b+c", index: 3 });
    const chat = await collectAll(echo.chat(texts("p", "q")));
    expect(chat.map((r) => r.text)).toEqual(["server:P", "server:Q"]);
    await expect(echo.oldEcho({ text: "old" })).rejects.toMatchObject({ code: Code.UNIMPLEMENTED });
  });

  it("generated clients and registrars go through interceptors, every method kind", async () => {
    const seen: string[] = [];
    const serverSide: HandlerInterceptor = (next) => async (req) => {
      seen.push(`server ${req.method.name} ${String(req.header.get("x-token")[0])}`);
      return next(req);
    };
    const clientSide: CallInterceptor = (next) => async (req) => {
      seen.push(`client ${req.method.name}`);
      req.header.set("x-token", "t1");
      return next(req);
    };
    const tunnel = await echoServerTunnel(new TunnelServiceHandler({ interceptors: [serverSide] }));
    const echo = new gen.EchoServiceTunnelClient(withInterceptors(tunnel, clientSide));

    expect((await echo.echo({ text: "hi" })).text).toBe("server:hi");
    expect((await collectAll(echo.expand({ text: "x", count: 2 }))).length).toBe(2);
    expect((await echo.collect(texts("a", "b"))).text).toBe("server:a+b");
    expect((await collectAll(echo.chat(texts("p")))).map((r) => r.text)).toEqual(["server:P"]);
    expect(seen).toEqual([
      "client Echo",
      "server Echo t1",
      "client Expand",
      "server Expand t1",
      "client Collect",
      "server Collect t1",
      "client Chat",
      "server Chat t1",
    ]);
  });

  it("reverse tunnels: calls by affinity key and round-robin, streaming included", async () => {
    const handler = new TunnelServiceHandler<string>({
      affinityKey: (t) => String(t.metadata.get("device-id")[0]),
    });
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    for (const device of ["dev-a", "dev-b"]) {
      const client = tunnelClient(srv.address);
      cleanup.add(() => client.close());
      const agent = new ReverseTunnelServer(client);
      gen.registerEchoService(agent, echoImpl(device));
      void agent.serve({ metadata: { "device-id": device } });
      cleanup.add(() => agent.stop());
      await handler.keyAsChannel(device).waitForReady();
    }

    const b = gen.echoServiceClientForKey(handler, "dev-b");
    expect((await b.echo({ text: "ping" })).text).toBe("dev-b:ping");
    const streamed = await collectAll(b.expand({ text: "tick", count: 2 }));
    expect(streamed.map((r) => r.text)).toEqual(["dev-b:tick", "dev-b:tick"]);
    const chat = await collectAll(gen.echoServiceClientForKey(handler, "dev-a").chat(texts("x", "y")));
    expect(chat.map((r) => r.text)).toEqual(["dev-a:X", "dev-a:Y"]);

    for (const any of [gen.echoServiceAnyAgentClient(handler), gen.echoServiceClient(handler)]) {
      const servedBy = new Set<string>();
      for (let i = 0; i < 4; i++) {
        servedBy.add((await any.echo({ text: "rr" })).text.split(":")[0]);
      }
      expect([...servedBy].sort()).toEqual(["dev-a", "dev-b"]);
    }

    await expect(gen.echoServiceClientForKey(handler, "dev-c").echo({})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});

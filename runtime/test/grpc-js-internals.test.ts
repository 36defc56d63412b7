// The grpc-js server call internals the tunnel transport reaches
// (transport/grpc-js-internals.ts) are found in the installed grpc-js, also
// behind a server interceptor: a grpc-js release that moves them fails here.
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { serverStreamCall, unaryCall } from "../src/index.js";
import { type ServerCallInternals, serverCallInternals } from "../src/transport/grpc-js-internals.js";
import { TunnelServiceHandler, createTunnelClient, openTunnel } from "../src/index.js";
import { inProcessClient } from "../src/testing.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { bytesBidiMethod, Cleanup, startServer } from "./support/servers.js";
import { StoreService } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const method = bytesBidiMethod("/internals.Test/Bidi");

/** The internals of the server side of one bidi call to a server with `options`. */
async function internalsOfACall(options: grpc.ServerOptions): Promise<ServerCallInternals | undefined> {
  let found: (internals: ServerCallInternals | undefined) => void = () => {};
  const seen = new Promise<ServerCallInternals | undefined>((resolve) => (found = resolve));
  const server = await startServer(
    (s) =>
      s.addService(
        { bidi: method },
        {
          bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
            found(serverCallInternals(call));
            call.end();
          },
        },
      ),
    options,
  );
  cleanup.add(() => server.kill());
  const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  cleanup.add(() => client.close());
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
  call.on("error", () => {});
  call.on("data", () => {});
  return seen;
}

describe("grpc-js server call internals", () => {
  it("are found, and report the call's encoding and a partial message of none", async () => {
    const internals = await internalsOfACall({});
    expect(internals?.encoding).toBe("identity");
    expect(internals?.partialMessageBytes()).toBe(0);
    expect(typeof internals?.stream.pause).toBe("function");
  });

  // A compressed tunnel RPC's encoding is seen in transport-attacks.test.ts (grpc-js clients send their own).
  it("are found behind server interceptors", async () => {
    const passThrough: grpc.ServerInterceptor = (_descriptor, call) => new grpc.ServerInterceptingCall(call);
    const internals = await internalsOfACall({ interceptors: [passThrough, passThrough] });
    expect(internals?.encoding).toBe("identity");
  });

  // Runs before the test below: the warning is emitted once per process.
  it("are not looked for in the in-process transport's calls, and no warning says they moved", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.code ?? warning.name);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const handler = new TunnelServiceHandler();
    handler.registerService(StoreService, { get: (item: { value: string }) => item });
    const client = inProcessClient(handler);
    const tunnel = await openTunnel(client);
    cleanup.add(() => {
      tunnel.close();
      client.close();
    });
    expect(await createTunnelClient(StoreService, tunnel).get({ value: "x" })).toMatchObject({ value: "x" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).not.toContain("GRPCTUNNEL_GRPC_JS_INTERNALS");
  });
});

describe("a grpc-js whose server call internals are not where 1.14 keeps them", () => {
  it("still serves tunnels, and warns once", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === "GRPCTUNNEL_GRPC_JS_INTERNALS") warnings.push(warning.message);
    };
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    // The base call behind a stand-in that hides its decoder and offers no
    // `nextCall`: serverCallInternals finds nothing, as with a grpc-js that moved them.
    // (grpc-js types an interceptor's result as its class; it only uses the interface.)
    const hiding: grpc.ServerInterceptor = (_descriptor, call) =>
      new Proxy(call, {
        get(target, key) {
          if (key === "decoder" || key === "nextCall") return undefined;
          const value = Reflect.get(target, key) as unknown;
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as grpc.ServerInterceptingCall;
    const { tunnel } = await forwardFixture(cleanup, { serverOptions: { interceptors: [hiding] } });
    const payload = new Uint8Array(100_000).fill(9);
    const responses: number[] = [];
    for await (const response of serverStreamCall(tunnel, TestService.method.serverStream, { payload, count: 20 })) {
      responses.push(response.payload.length);
    }
    expect(responses).toEqual(Array(20).fill(payload.length));
    expect((await unaryCall(tunnel, TestService.method.unary, { payload })).payload).toEqual(payload);
    expect(warnings).toHaveLength(1);
  }, 30_000);
});

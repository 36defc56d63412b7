// The grpc-js server call internals the tunnel transport reaches
// (transport/grpc-js-internals.ts) are found in the installed grpc-js, also
// behind a server interceptor: a grpc-js release that moves them fails here.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { type ServerCallInternals, serverCallInternals } from "../src/transport/grpc-js-internals.js";
import { TunnelServiceHandler, createTunnelClient, openTunnel } from "../src/index.js";
import { inProcessClient } from "../src/testing.js";
import { Cleanup, startServer } from "./support/servers.js";
import { StoreService } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const method = {
  path: "/internals.Test/Bidi",
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
} as const;

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

  // Runs last in this file: the warning is emitted once per process.
  it("are not looked for in the in-process transport's calls; a grpc-js call without them warns once", async () => {
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

    expect(serverCallInternals({ call: { nextCall: { somewhereElse: true } } })).toBeUndefined();
    expect(serverCallInternals({ call: {} })).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((code) => code === "GRPCTUNNEL_GRPC_JS_INTERNALS")).toHaveLength(1);
  });
});

// The grpc-js server call internals the tunnel transport reaches
// (transport/grpc-js-internals.ts) are found in the installed grpc-js, also
// behind a server interceptor: a grpc-js release that moves them fails here.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { type ServerCallInternals, serverCallInternals } from "../src/transport/grpc-js-internals.js";
import { Cleanup, startServer } from "./support/servers.js";

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
});

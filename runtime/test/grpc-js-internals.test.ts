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

/** A bidi call whose server side `serve` handles; the client's messages and events in the order they came. */
async function callServedBy(serve: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void, options: grpc.ServerOptions = {}) {
  const server = await startServer((s) => s.addService({ bidi: method }, { bidi: serve }), options);
  cleanup.add(() => server.kill());
  const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  cleanup.add(() => client.close());
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
  const events: Array<{ message: Buffer } | { status: grpc.StatusObject }> = [];
  call.on("data", (message: Buffer) => events.push({ message }));
  call.on("error", () => {});
  await new Promise<void>((resolve) =>
    call.on("status", (status: grpc.StatusObject) => {
      events.push({ status });
      resolve();
    }),
  );
  return events;
}

// The network server writes tunnel frames with the base call itself
// (ServerCallInternals.sendDirect, used by transport/grpc-conn.ts): what
// that relies on, in the installed grpc-js (docs/performance.md).
describe("writing past a grpc-js server call's Duplex (sendDirect)", () => {
  it("the base call offers it when no server interceptor sits between, and not behind one", async () => {
    expect(typeof (await internalsOfACall({}))?.sendDirect).toBe("function");
    const passThrough: grpc.ServerInterceptor = (_descriptor, call) => new grpc.ServerInterceptingCall(call);
    expect((await internalsOfACall({ interceptors: [passThrough] }))?.sendDirect).toBeUndefined();
  });

  it("messages written in one turn arrive whole and in order, each reported written in order, and the status comes after them", async () => {
    const count = 300;
    // From 1 byte to about 70 KiB: several HTTP/2 frames per message, many messages per frame.
    const messages = Array.from({ length: count }, (_, i) => Buffer.alloc(1 + ((i * 7919) % 70_000), i & 0xff));
    const written: number[] = [];
    const events = await callServedBy((call) => {
      const sendDirect = serverCallInternals(call)?.sendDirect;
      if (sendDirect === undefined) {
        call.emit("error", { code: grpc.status.INTERNAL, details: "no sendDirect" });
        return;
      }
      for (let i = 0; i < count; i++) {
        sendDirect(messages[i], () => written.push(i));
      }
      call.end();
    });
    expect(events.at(-1)).toMatchObject({ status: { code: grpc.status.OK } });
    const received = events.flatMap((e) => ("message" in e ? [e.message] : []));
    expect(received).toHaveLength(count);
    expect(received.findIndex((message, i) => !message.equals(messages[i]!))).toBe(-1);
    expect(written).toEqual(Array.from({ length: count }, (_, i) => i));
  });
});

// The network client's frames go straight to the HTTP/2 stream under its
// grpc-js call, a turn's frames in one write (transport/batched-stream-
// writes.ts, found by clientCallStream in grpc-js-internals.ts). A grpc-js
// release that moves the stream, or writes that lose, reorder or cut
// messages, fail here; so does a half-close that overtakes them.
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { createTunnelClient } from "../src/index.js";
import { BatchedStreamWrites } from "../src/transport/batched-stream-writes.js";
import { clientCallStream, type MessageWriter, serverCallInternals } from "../src/transport/grpc-js-internals.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { bytesBidiMethod, Cleanup, startServer } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const method = bytesBidiMethod("/batched.Test/Bidi");

/** A server that collects one bidi call's messages and answers their count at the client's half-close. */
async function collectingServer(): Promise<{ address: string; received: Buffer[]; ended: Promise<void> }> {
  const received: Buffer[] = [];
  let ended: () => void = () => {};
  const endedPromise = new Promise<void>((resolve) => (ended = resolve));
  const server = await startServer((s) =>
    s.addService(
      { bidi: method },
      {
        bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
          call.sendMetadata(new grpc.Metadata());
          call.on("data", (m: Buffer) => received.push(m));
          call.on("end", () => {
            call.write(Buffer.from(String(received.length)));
            call.end();
            ended();
          });
        },
      },
    ),
  );
  cleanup.add(() => server.kill());
  return { address: server.address, received, ended: endedPromise };
}

/** A bidi call on a plain client, once its response headers arrived (as tunnels use it). */
async function answeredCall(address: string, options: grpc.ClientOptions = {}) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  cleanup.add(() => client.close());
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
  call.on("error", () => {});
  const answers: Buffer[] = [];
  call.on("data", (m: Buffer) => answers.push(m));
  await once(call, "metadata");
  return { call, answers };
}

/** Whether two lists of messages are equal, byte for byte (vitest's deep equality is slow on megabytes). */
function same(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((m, i) => Buffer.from(m).equals(b[i]!));
}

/** Messages of 1 B to 70 KiB, each filled with its index: a cut or swapped one shows. */
function messages(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(1 + ((i * 7919) % (70 * 1024)), i % 251));
}

describe("a grpc-js client call's HTTP/2 stream", () => {
  it("is found once the call has its response headers, with and without grpc-js retries", async () => {
    const { address } = await collectingServer();
    for (const options of [{}, { "grpc.enable_retries": 0 }]) {
      const { call } = await answeredCall(address, options);
      const stream = clientCallStream(call);
      expect(typeof stream?.write).toBe("function");
      call.cancel();
    }
  });

  it("is not used behind a client interceptor, which may hold or change messages", async () => {
    const { address } = await collectingServer();
    const passThrough: grpc.Interceptor = (options, next) => new grpc.InterceptingCall(next(options));
    const { call } = await answeredCall(address, { interceptors: [passThrough] });
    expect(clientCallStream(call)).toBeUndefined();
    call.cancel();
  });
});

/**
 * What a server call's messageWriter gives before and after its response
 * headers went out, on a server with `options`; the client's call is
 * cancelled after.
 */
async function serverWriters(
  options: grpc.ServerOptions,
): Promise<{ before: MessageWriter | undefined; after: MessageWriter | undefined }> {
  const found = new Promise<{ before: MessageWriter | undefined; after: MessageWriter | undefined }>((resolve) => {
    void startServer(
      (s) =>
        s.addService(
          { bidi: method },
          {
            bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
              call.on("error", () => {});
              const internals = serverCallInternals(call);
              const before = internals?.messageWriter();
              call.sendMetadata(new grpc.Metadata());
              resolve({ before, after: internals?.messageWriter() });
            },
          },
        ),
      options,
    ).then((server) => {
      cleanup.add(() => server.kill());
      const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
      cleanup.add(() => client.close());
      const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
      call.on("error", () => {});
      cleanup.add(() => call.cancel());
    });
  });
  return found;
}

describe("a grpc-js server call's message writer", () => {
  it("is found once the response headers went out, with the call's serializer", async () => {
    const { before, after } = await serverWriters({});
    expect(before).toBeUndefined(); // HTTP/2 would send the bytes before the headers
    expect(typeof after?.stream.write).toBe("function");
    expect(Buffer.from(after!.serialize(Buffer.from("abc")))).toEqual(Buffer.from("abc"));
  });

  it("is not used behind a server interceptor, or when grpc-js checks a send limit", async () => {
    const passThrough: grpc.ServerInterceptor = (_method, call) => new grpc.ServerInterceptingCall(call);
    expect((await serverWriters({ interceptors: [passThrough] })).after).toBeUndefined();
    expect((await serverWriters({ "grpc.max_send_message_length": 1024 * 1024 })).after).toBeUndefined();
  });
});

describe("BatchedStreamWrites", () => {
  it("delivers 300 messages written in one turn whole and in order, calls back in order, then half-closes after them", async () => {
    const server = await collectingServer();
    const { call, answers } = await answeredCall(server.address);
    const stream = clientCallStream(call);
    if (stream === undefined) throw new Error("grpc-js moved the client call's HTTP/2 stream");
    const writes = new BatchedStreamWrites<Buffer>(stream, (m) => m);
    const sent: number[] = [];
    const sentAll = new Promise<void>((resolve) => {
      for (const [i, m] of messages(300).entries()) {
        writes.write(m, () => {
          sent.push(i);
          if (i === 299) resolve();
        });
      }
    });
    await sentAll;
    writes.flush();
    call.end();
    await server.ended;
    expect(sent).toEqual([...Array(300).keys()]);
    expect(server.received.map((m) => m.length)).toEqual(messages(300).map((m) => m.length));
    expect(same(server.received, messages(300))).toBe(true);
    await once(call, "status");
    expect(answers.map(String)).toEqual(["300"]);
  });

  it("keeps the order across turns, and a flush before the half-close sends what waits", async () => {
    const server = await collectingServer();
    const { call } = await answeredCall(server.address);
    const writes = new BatchedStreamWrites<Buffer>(clientCallStream(call)!, (m) => m);
    const all = messages(40);
    for (const m of all.slice(0, 20)) writes.write(m, () => {});
    await new Promise((resolve) => setImmediate(resolve));
    for (const m of all.slice(20)) writes.write(m, () => {});
    writes.flush(true); // the last 20 have not been written yet: ending now must not drop them
    call.end();
    await server.ended;
    expect(same(server.received, all)).toBe(true);
  });

  it("pushes back while the peer does not read, and drains once it does", async () => {
    let resumeServer: () => void = () => {};
    const received: Buffer[] = [];
    const server = await startServer((s) =>
      s.addService(
        { bidi: method },
        {
          bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
            call.sendMetadata(new grpc.Metadata());
            call.pause(); // reads nothing until resumed: HTTP/2's window fills
            resumeServer = () => {
              call.on("data", (m: Buffer) => received.push(m));
              call.resume();
            };
            call.on("end", () => call.end());
          },
        },
      ),
    );
    cleanup.add(() => server.kill());
    const { call } = await answeredCall(server.address);
    const stream = clientCallStream(call)!;
    let encoded = 0;
    const writes = new BatchedStreamWrites<Buffer>(stream, (m) => {
      encoded++;
      return m;
    });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    for (let i = 0; i < 16; i++) writes.write(chunk, () => sent++);
    writes.flush();
    // HTTP/2 took one frame, past its high-water mark; the others wait unencoded.
    expect(encoded).toBe(1);
    expect(writes.write(chunk, () => sent++)).toBe(false);
    const drainedAll = new Promise<void>((resolve) => writes.onDrain(resolve));
    resumeServer();
    await drainedAll; // the engine hears of a drain only once nothing waits here
    expect(encoded).toBe(17);
    call.end();
    await new Promise((resolve) => call.once("status", resolve));
    expect(received.length).toBe(17);
    expect(received.every((m) => m.equals(chunk))).toBe(true);
    expect(sent).toBe(17);
  });

  it("writes whole messages that view part of a larger buffer, copied: the buffer may change after", async () => {
    const server = await collectingServer();
    const { call } = await answeredCall(server.address);
    const writes = new BatchedStreamWrites<Uint8Array>(clientCallStream(call)!, (m) => m);
    const big = new Uint8Array(256 * 1024).fill(1);
    const views = [big.subarray(0, 20_000), big.subarray(40_000, 40_010), big.subarray(100_000, 180_000)];
    for (const view of views) writes.write(view, () => {});
    writes.flush(true);
    big.fill(2); // what went to HTTP/2 is a copy: this must not reach the peer
    call.end();
    await server.ended;
    expect(server.received.map((m) => m.length)).toEqual([20_000, 10, 80_000]);
    expect(server.received.every((m) => m.every((b) => b === 1))).toBe(true);
  });

  it("drops frames of a cancelled call without writing or throwing", async () => {
    const server = await collectingServer();
    const { call } = await answeredCall(server.address);
    const writes = new BatchedStreamWrites<Buffer>(clientCallStream(call)!, (m) => m);
    let called = 0;
    writes.write(Buffer.from("late"), () => called++);
    writes.drop();
    const status = new Promise((resolve) => call.once("status", resolve));
    call.cancel();
    await status;
    writes.write(Buffer.from("later"), () => called++);
    writes.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.received).toEqual([]);
    expect(called).toBe(0);
  });
});

describe("forward tunnels on batched writes", () => {
  it("64 concurrent calls of distinct payloads all come back intact", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const client = createTunnelClient(TestService, tunnel);
    const payloads = Array.from({ length: 64 }, (_, i) => Buffer.alloc(1 + i * 1031, i));
    const answers = await Promise.all(payloads.map((payload) => client.unary({ payload })));
    expect(
      same(
        answers.map((a) => a.payload),
        payloads,
      ),
    ).toBe(true);
  });
});

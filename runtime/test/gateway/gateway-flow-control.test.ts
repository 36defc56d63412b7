import type * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { MessageSchema } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "../../src/deferred.js";
import { gatewayClient, keyed, rawGrpcRequest, startGateway, TEST_METHOD } from "../support/gateway.js";
import { connectAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const MESSAGE = 64 * 1024;
const COUNT = Number(process.env.FC_COUNT ?? 256);

/**
 * Resolves with a counter's value once it stopped changing for `quietMs`
 * (probing every 25 ms): the way to see that a sender is held back. The
 * deadline is what fails the test; the probes only observe.
 */
async function settled(read: () => number, quietMs: number, deadlineMs = 20_000): Promise<number> {
  const start = Date.now();
  let last = read();
  let since = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
    if (Date.now() - start > deadlineMs) {
      throw new Error(`still changing after ${deadlineMs} ms (at ${now})`);
    }
  }
}

describe("gateway: flow control end to end", () => {
  it("an agent that stops reading holds the caller back; nothing piles up in the gateway; all arrives once it reads", async () => {
    const { hub, address } = await startGateway(cleanup);
    const release = deferred<void>();
    let received = 0;
    await connectAgent(cleanup, hub, {
      name: "camera-3",
      impl: {
        async clientStream(requests) {
          for await (const _ of requests) {
            if (++received === 2) {
              await release.promise; // a slow agent: stops reading after two messages
            }
          }
          return { count: received };
        },
      },
    });
    const client = gatewayClient(cleanup, address);
    const payload = Buffer.alloc(MESSAGE, 7);
    const request = Buffer.from(toBinary(MessageSchema, create(MessageSchema, { payload })));
    let written = 0;
    const answer = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest(
        TEST_METHOD.clientStream,
        (b: Buffer) => b,
        (b: Buffer) => b,
        keyed("camera-3"),
        {},
        (error) => resolve(error),
      );
      void (async () => {
        for (let i = 0; i < COUNT; i++) {
          const accepted = call.write(request, () => written++);
          if (!accepted) {
            await new Promise((resolve) => call.once("drain", resolve));
          }
        }
        call.end();
      })();
    });

    const held = await settled(() => written, 400);
    expect(received).toBe(2);
    // What got out of the caller sits in the windows between it and the agent:
    // the gateway's HTTP/2 stream window, one message in the gateway, the tunnel's window.
    expect(held * MESSAGE).toBeLessThan(6 * 1024 * 1024);
    expect(held).toBeLessThan(COUNT);

    release.resolve();
    expect(await answer).toBeNull();
    expect(received).toBe(COUNT);
    expect(written).toBe(COUNT);
  });

  it("a caller that stops reading holds the agent back", async () => {
    const { hub, address } = await startGateway(cleanup);
    let sent = 0;
    await connectAgent(cleanup, hub, {
      name: "camera-3",
      impl: {
        async *serverStream() {
          for (let i = 0; i < COUNT; i++) {
            yield { payload: new Uint8Array(MESSAGE) };
            sent++;
          }
        },
      },
    });
    // A raw HTTP/2 caller, so that "not reading" is exactly that (grpc-js buffers some messages of its own).
    const stream = rawGrpcRequest(cleanup, address, TEST_METHOD.serverStream, { "tunnel-key": "camera-3" }, Buffer.alloc(5)); // one empty request
    stream.pause(); // the caller reads nothing
    const held = await settled(() => sent, 400);
    expect(held * MESSAGE).toBeLessThan(8 * 1024 * 1024);
    expect(held).toBeLessThan(COUNT);
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
    stream.resume();
    const trailers = await new Promise<Record<string, unknown>>((resolve) => stream.on("trailers", resolve));
    expect(trailers["grpc-status"]).toBe("0");
    expect(bytes).toBe(COUNT * (MESSAGE + 4 + 5)); // each: 5-byte gRPC prefix, field tag and length, the payload
    expect(sent).toBe(COUNT);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { MessageSchema, TestService } from "@protoc-gen-tunnel/interop";
import { Code, createTunnelClient, TunnelError, type CallChannel, type CallOptions } from "../src/index.js";
import type { CallEnd, CallStream } from "../src/protocol.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { Cleanup } from "./support/servers.js";
import { outcome } from "./support/events.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function forwardTunnel() {
  return (await forwardFixture(cleanup)).tunnel;
}

async function* payloads(...bytes: number[]) {
  for (const b of bytes) yield { payload: new Uint8Array([b]) };
}

async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/**
 * A CallChannel built by wrapping another one's CallStreams, as a retrying,
 * routing or observing channel would be: it records what goes through in
 * bytes and how each call ended, and changes nothing.
 */
class RecordingChannel implements CallChannel {
  readonly log: string[] = [];
  constructor(private readonly inner: CallChannel) {}

  startCall(method: string, options?: CallOptions): CallStream {
    const stream = this.inner.startCall(method, options);
    const log = this.log;
    log.push(`start ${method}`);
    return {
      method: stream.method,
      send(message) {
        log.push(`send ${message.length}`);
        return stream.send(message);
      },
      closeSend: () => stream.closeSend(),
      async read() {
        const message = await stream.read();
        log.push(message === undefined ? "read end" : `read ${message.length}`);
        return message;
      },
      cancel: (reason) => stream.cancel(reason),
      get closed() {
        return stream.closed;
      },
      done: stream.done.then((end: CallEnd) => {
        log.push(`done ${end.error?.code ?? "OK"}`);
        return end;
      }),
    };
  }
}

describe("createTunnelClient", () => {
  it("has one function per method and makes every kind of call", async () => {
    const foo = createTunnelClient(TestService, await forwardTunnel());
    expect(Object.keys(foo).sort()).toEqual(["bidiStream", "clientStream", "serverStream", "unary", "useExternalMessageTwice"]);
    expect((await foo.unary({ payload: new Uint8Array([7]) })).payload).toEqual(new Uint8Array([7]));
    expect(await drain(foo.serverStream({ count: 3, payload: new Uint8Array([5]) }))).toHaveLength(3);
    expect((await foo.clientStream(payloads(1, 2))).count).toBe(2);
    expect((await drain(foo.bidiStream(payloads(1, 2, 3)))).map((r) => r.count)).toEqual([1, 2, 3]);
  });

  it("reports a failed call as a TunnelError, with its trailers to onTrailer", async () => {
    const foo = createTunnelClient(TestService, await forwardTunnel());
    let trailer: string | undefined;
    const failed = await outcome(
      foo.unary({ code: Code.NOT_FOUND, trailers: { t: Buffer.from("v") } }, { onTrailer: (md) => (trailer = String(md.get("t")[0])) }),
    );
    expect(failed.ok || failed.error).toBeInstanceOf(TunnelError);
    expect(failed.ok || failed.error).toMatchObject({ code: Code.NOT_FOUND, rawMessage: "error" });
    expect(trailer).toBe("v");
  });
});

describe("CallStream as a seam", () => {
  it("a channel that wraps another's CallStreams carries typed calls unchanged", async () => {
    const recording = new RecordingChannel(await forwardTunnel());
    const foo = createTunnelClient(TestService, recording);
    const request = { payload: new Uint8Array(10) };
    expect((await foo.unary(request)).payload).toHaveLength(10);
    const size = toBinary(MessageSchema, create(MessageSchema, request)).length;
    expect(recording.log.slice(0, 2)).toEqual(["start /grpchantesting.TestService/Unary", `send ${size}`]);
    expect(recording.log).toContain("read end");
    expect(recording.log).toContain("done OK");

    recording.log.length = 0;
    const failed = await outcome(drain(foo.serverStream({ count: 1, code: Code.ABORTED })));
    expect(failed.ok || failed.error).toMatchObject({ code: Code.ABORTED });
    expect(recording.log).toContain(`done ${Code.ABORTED}`);
  });

  it("stopping a stream early cancels the wrapped call", async () => {
    const recording = new RecordingChannel(await forwardTunnel());
    const foo = createTunnelClient(TestService, recording);
    for await (const _ of foo.serverStream({ count: 1000, payload: new Uint8Array(100) })) {
      break;
    }
    expect(recording.log.at(-1)).toBe(`done ${Code.CANCELLED}`);
  });
});

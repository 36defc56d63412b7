// Client options (interceptors, default call options) and the push-style
// bidi streams, over in-process tunnels (@protoc-gen-tunnel/runtime/testing).
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  TunnelError,
  TunnelServiceHandler,
  createTunnelClient,
  openBidiStream,
  openTunnel,
  type CallOptions,
  type Interceptor,
} from "../src/index.js";
import { mergeCallOptions, openRawBidiStream } from "../src/protocol.js";
import { inProcessClient, startTestAgent } from "../src/testing.js";
import { Cleanup } from "./support/servers.js";
import { ItemSchema, StoreService, type Item } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("mergeCallOptions", () => {
  it("lets the call win, merges metadata per key, keeps both signals and callbacks", () => {
    const seen: string[] = [];
    const a = new AbortController();
    const b = new AbortController();
    const merged = mergeCallOptions(
      {
        timeoutMs: 1_000,
        waitForReady: true,
        metadata: { "x-team": "ops", "x-trace": ["1", "2"] },
        signal: a.signal,
        onHeader: () => seen.push("default"),
      },
      { deadline: 5, metadata: { "x-trace": "3" }, signal: b.signal, onHeader: () => seen.push("call"), waitForReady: undefined },
    );
    // timeoutMs and deadline are one setting: the call's deadline replaces the default timeout.
    expect(merged.timeoutMs).toBeUndefined();
    expect(merged.deadline).toBe(5);
    expect(merged.waitForReady).toBe(true); // undefined on the call leaves the default
    const md = merged.metadata as Metadata;
    expect(md.get("x-team")).toEqual(["ops"]);
    expect(md.get("x-trace")).toEqual(["3"]);
    merged.onHeader?.(new Metadata());
    expect(seen).toEqual(["default", "call"]);
    expect(merged.signal?.aborted).toBe(false);
    a.abort();
    expect(merged.signal?.aborted).toBe(true);
  });

  it("returns either side alone when the other is missing", () => {
    const only: CallOptions = { timeoutMs: 3 };
    expect(mergeCallOptions(undefined, only)).toBe(only);
    expect(mergeCallOptions(only, undefined)).toBe(only);
  });
});

async function storeAgent(handler: TunnelServiceHandler<string>, key: string) {
  const agent = await startTestAgent(handler, {
    metadata: { "device-id": key },
    register: (server) =>
      server.registerService(StoreService, {
        get(request: Item, context) {
          context.responseHeaders.set("x-served-by", key);
          context.responseTrailers.set("x-trailer", "t");
          const team = context.metadata.get("x-team").join(",");
          return { key: request.key, value: `${team}|${context.deadline === undefined ? "no deadline" : "deadline"}` };
        },
        async *sync(requests, context) {
          context.responseHeaders.set("x-served-by", key);
          for await (const item of requests) {
            if (item.key === "fail") {
              throw new TunnelError(Code.FAILED_PRECONDITION, "asked to fail");
            }
            yield { key: item.key, value: `${key}:${item.value}` };
          }
          context.responseTrailers.set("x-count", "done");
        },
      }),
  });
  cleanup.add(() => agent.stop());
}

function newHandler() {
  return new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0] ?? "") });
}

describe("client options on a client", () => {
  it("sends the default metadata and deadline; a call's own options win; interceptors see the merged call", async () => {
    const handler = newHandler();
    await storeAgent(handler, "d1");
    const seenByInterceptor: string[][] = [];
    const recordTeam: Interceptor = (next) => async (request) => {
      seenByInterceptor.push(request.header.get("x-team") as string[]);
      return next(request);
    };
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), {
      interceptors: [recordTeam],
      defaultCallOptions: { metadata: { "x-team": "ops" }, timeoutMs: 5_000 },
    });
    expect((await store.get({ key: "a" })).value).toBe("ops|deadline");
    expect((await store.get({ key: "a" }, { metadata: { "x-team": "dev" } })).value).toBe("dev|deadline");
    expect(seenByInterceptor).toEqual([["ops"], ["dev"]]);
  });
});

describe("BidiStream", () => {
  it("sends, half-closes, iterates the responses and reports headers and trailers", async () => {
    const handler = newHandler();
    await storeAgent(handler, "d1");
    const stream = openBidiStream(handler.keyAsChannel("d1"), StoreService.method.sync);
    await stream.send({ key: "1", value: "uptime" });
    const answers: string[] = [];
    for await (const item of stream) {
      answers.push(item.value);
      if (answers.length === 1) {
        await stream.send({ key: "2", value: "whoami" }); // the next request depends on the answer
      } else {
        stream.close();
      }
    }
    expect(answers).toEqual(["d1:uptime", "d1:whoami"]);
    expect((await stream.headers).get("x-served-by")).toEqual(["d1"]);
    expect((await stream.trailers).get("x-count")).toEqual(["done"]);
    expect((await stream.done).error).toBeUndefined();
    await expect(stream.send({})).rejects.toBeInstanceOf(TunnelError);
  });

  it("fails its sends and iteration with the call's error, and cancels", async () => {
    const handler = newHandler();
    await storeAgent(handler, "d1");
    const failing = openBidiStream(handler.keyAsChannel("d1"), StoreService.method.sync);
    await failing.send({ key: "fail" });
    expect((await failing.done).error?.code).toBe(Code.FAILED_PRECONDITION);
    await expect(failing.send({ key: "late" })).rejects.toMatchObject({ code: Code.FAILED_PRECONDITION });

    const controller = new AbortController();
    const cancelled = openBidiStream(handler.keyAsChannel("d1"), StoreService.method.sync, { signal: controller.signal });
    await cancelled.send({ key: "1" });
    controller.abort();
    expect((await cancelled.done).error?.code).toBe(Code.CANCELLED);

    const byCancel = openBidiStream(handler.keyAsChannel("d1"), StoreService.method.sync);
    byCancel.cancel();
    expect((await byCancel.done).error?.code).toBe(Code.CANCELLED);
  });

  it("waits for the flow-control window: a send resolves only once the peer read enough", async () => {
    const handler = newHandler();
    const events: string[] = [];
    const agent = await startTestAgent(handler, {
      metadata: { "device-id": "slow" },
      register: (server) =>
        server.registerService(StoreService, {
          async *sync(requests) {
            let n = 0;
            for await (const _ of requests) {
              events.push(`read ${++n}`);
              // Reading slowly: the window fills while the client sends.
              await new Promise((resolve) => setImmediate(resolve));
            }
            yield { value: String(n) };
          },
        }),
    });
    cleanup.add(() => agent.stop());
    const stream = openBidiStream(handler.keyAsChannel("slow"), StoreService.method.sync);
    const big = "x".repeat(40 * 1024); // the window is 64 KiB
    const sends = [1, 2, 3, 4, 5].map((n) => stream.send({ value: big }).then(() => events.push(`sent ${n}`)));
    await Promise.all(sends);
    stream.close();
    for await (const last of stream) {
      expect(last.value).toBe("5");
    }
    // 200 KiB cannot all be in flight in a 64 KiB window: the 4th send completes only after reads.
    expect(events.indexOf("sent 4")).toBeGreaterThan(events.indexOf("read 1"));
  });

  it("works in bytes on a CallStream (openRawBidiStream), over an in-process forward tunnel", async () => {
    const handler = newHandler();
    handler.registerService(StoreService, {
      async *sync(requests) {
        for await (const item of requests) {
          yield { value: item.value.toUpperCase() };
        }
      },
    });
    const client = inProcessClient(handler);
    const tunnel = await openTunnel(client);
    cleanup.add(() => {
      tunnel.close();
      client.close();
    });
    const stream = openRawBidiStream(tunnel, "/store.v1.StoreService/Sync");
    await stream.send(toBinary(ItemSchema, create(ItemSchema, { value: "abc" })));
    stream.close();
    const answers: number[] = [];
    for await (const bytes of stream) {
      answers.push(bytes.byteLength);
    }
    expect(answers).toEqual([5]); // field 2, length 3, "ABC"
    expect((await stream.done).error).toBeUndefined();
  });
});

// The calls a test makes *from* a replica process (replica-server.mjs), each
// an IPC operation whose answer is plain JSON: single calls, every call kind
// with metadata, headers, trailers and error details, a cancellation and a
// deadline, a 1 GiB push, continuous load, and heap measurements.
import { create } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { createTunnelClient } from "../../dist/index.js";
import { TestService } from "../../../interop/dist/index.js";

const SERVED_BY = "x-served-by";
const text = (bytes) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("utf8"));
const servedBy = (message) => text(message.headers[SERVED_BY]) ?? "";
const utf8 = (s) => new TextEncoder().encode(s);

/** Metadata as a plain object (values as text; -bin values base64). */
function metadataJson(md) {
  if (md === undefined) return undefined;
  const out = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    out[key] = values.map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("base64")));
  }
  return out;
}

function errorJson(e) {
  return {
    code: e?.code,
    message: e?.rawMessage ?? String(e),
    details: (e?.details ?? []).map((d) => ({ typeUrl: d.typeUrl, value: Buffer.from(d.value).toString("base64") })),
    trailers: metadataJson(e?.metadata),
  };
}

/** Call options that record the response headers and trailers into `seen`. */
function recorded(seen, extra = {}) {
  return {
    metadata: { "x-caller": "replica-test" },
    timeoutMs: 10_000,
    onHeader: (h) => (seen.headers = metadataJson(h)),
    onTrailer: (t) => (seen.trailers = metadataJson(t)),
    ...extra,
  };
}

async function* messages(n, make) {
  for (let i = 0; i < n; i++) yield make(i);
}

/** Every call kind against `key`, with what came back: payloads, echoed metadata, headers, trailers, errors with details. */
async function kinds(client) {
  const out = {};
  const headerAndTrailer = { headers: { "x-h": utf8("header-value") }, trailers: { "x-t": utf8("trailer-value") } };

  let seen = {};
  const unary = await client.unary({ payload: new Uint8Array([1, 2, 3]), ...headerAndTrailer }, recorded(seen));
  out.unary = { servedBy: servedBy(unary), payload: [...unary.payload], echoedCaller: text(unary.headers["x-caller"]), ...seen };

  seen = {};
  const detail = anyPack(StringValueSchema, create(StringValueSchema, { value: "a detail" }));
  try {
    await client.unary({ code: 9, errorDetails: [detail], ...headerAndTrailer }, recorded(seen));
    out.unaryError = "no error";
  } catch (e) {
    out.unaryError = { ...errorJson(e), ...seen };
  }

  seen = {};
  const streamed = await client.clientStream(
    messages(3, (i) => ({ payload: new Uint8Array(100 * (i + 1)).fill(i), ...headerAndTrailer })),
    recorded(seen),
  );
  out.clientStream = { servedBy: servedBy(streamed), count: streamed.count, payloadBytes: streamed.payload.length, ...seen };

  seen = {};
  const responses = [];
  for await (const res of client.serverStream({ count: 4, payload: utf8("each"), ...headerAndTrailer }, recorded(seen))) {
    responses.push({ servedBy: servedBy(res), payload: text(res.payload) });
  }
  out.serverStream = { responses, ...seen };

  seen = {};
  const partial = [];
  try {
    for await (const res of client.serverStream({ count: 2, code: 5, errorDetails: [detail], ...headerAndTrailer }, recorded(seen))) {
      partial.push(text(res.payload));
    }
    out.serverStreamError = "no error";
  } catch (e) {
    out.serverStreamError = { received: partial.length, ...errorJson(e), ...seen };
  }

  seen = {};
  const replies = [];
  for await (const res of client.bidiStream(
    messages(3, (i) => ({ payload: new Uint8Array([i]), ...headerAndTrailer })),
    recorded(seen),
  )) {
    replies.push({ servedBy: servedBy(res), count: res.count, payload: [...res.payload] });
  }
  out.bidiStream = { replies, ...seen };
  return out;
}

/** Runs `calls` concurrent callers of random keys until stopped; counts calls and keeps every failure. */
class Load {
  constructor(handler, { keys, callers, timeoutMs }) {
    this.calls = 0;
    this.failures = [];
    this.stopped = false;
    const one = async () => {
      while (!this.stopped) {
        const key = keys[Math.floor(Math.random() * keys.length)];
        const client = createTunnelClient(TestService, handler.keyAsChannel(key));
        try {
          const res = await client.unary({ payload: utf8(key) }, { waitForReady: true, timeoutMs });
          if (text(res.payload) !== key) throw new Error(`wrong answer for ${key}: ${text(res.payload)}`);
        } catch (e) {
          this.failures.push({ key, at: Date.now(), ...errorJson(e) });
        }
        this.calls++;
      }
    };
    this.running = Promise.all(Array.from({ length: callers }, one));
  }

  async stop() {
    this.stopped = true;
    await this.running;
    return { calls: this.calls, failures: this.failures };
  }
}

/**
 * Largest growth of heap + array buffers over a baseline, sampled after
 * forced GCs. Two in a row: the first leaves the backing stores of the
 * buffers it collected to be released by the next, and would count tens of
 * MiB of garbage as growth.
 */
class HeapWatch {
  constructor() {
    this.baseline = HeapWatch.used();
    this.maxGrowth = 0;
  }

  static used() {
    globalThis.gc();
    globalThis.gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  }

  sample() {
    this.maxGrowth = Math.max(this.maxGrowth, HeapWatch.used() - this.baseline);
  }

  stop() {
    this.sample();
    return { baseline: this.baseline, maxGrowth: this.maxGrowth };
  }
}

/** The call operations of a replica whose handler is `handler`. */
export function callOps(handler) {
  const client = (key) => createTunnelClient(TestService, handler.keyAsChannel(key));
  let load;
  let heap;
  let pushed = 0;
  return {
    unary: async ({ key, waitForReady = false, timeoutMs = 10_000 }) => {
      const started = Date.now();
      const res = await client(key).unary({ payload: utf8(key) }, { waitForReady, timeoutMs });
      return { servedBy: servedBy(res), payload: text(res.payload), ms: Date.now() - started };
    },
    kinds: ({ key }) => kinds(client(key)),
    /** A server stream cancelled by its caller right after the first response. */
    cancelAfterFirst: async ({ key }) => {
      const controller = new AbortController();
      let abortedAt;
      try {
        for await (const _ of client(key).serverStream({ count: 3 }, { signal: controller.signal })) {
          abortedAt = Date.now();
          controller.abort();
        }
        return { abortedAt, code: 0 };
      } catch (e) {
        return { abortedAt, code: e?.code };
      }
    },
    /** A unary call the agent never answers, with a deadline of `timeoutMs`. */
    deadline: async ({ key, timeoutMs }) => {
      const started = performance.now();
      try {
        await client(key).unary({}, { timeoutMs });
        return { code: 0, ms: performance.now() - started };
      } catch (e) {
        return { code: e?.code, message: e?.rawMessage, ms: performance.now() - started };
      }
    },
    /** Pushes `totalBytes` in messages of `messageBytes` as one client stream; `pushed` reports progress. */
    push: async ({ key, totalBytes, messageBytes }) => {
      pushed = 0;
      const payload = new Uint8Array(messageBytes);
      async function* requests() {
        while (pushed < totalBytes) {
          yield { payload };
          pushed += messageBytes; // counted once the call took the previous one
        }
      }
      const res = await client(key).clientStream(requests(), { timeoutMs: 600_000 });
      return { pushed, count: res.count };
    },
    pushed: () => ({ pushed }),
    /** Starts measuring from a baseline; `heapSample` samples (e.g. while the pipeline is full), `heapStop` ends. */
    heapWatch: () => {
      heap = new HeapWatch();
      return { baseline: heap.baseline };
    },
    heapSample: () => {
      heap.sample();
      return { maxGrowth: heap.maxGrowth };
    },
    heapStop: () => heap.stop(),
    loadStart: (options) => {
      load = new Load(handler, options);
      return { started: true };
    },
    loadProgress: () => ({ calls: load.calls, failures: load.failures.length }),
    loadStop: () => load.stop(),
  };
}

import { create } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import { TunnelError, type HandlerContext, type ServiceImpl } from "@protoc-gen-tunnel/runtime";
import { MessageSchema, type TestService, type Message } from "./gen/grpchantesting/test_pb.js";

/**
 * grpchantesting.TestService with exactly the behaviour INTEROP.md gives
 * (the Go `grpchantesting.TestServer`): echoes payloads, turns request
 * fields into response headers, trailers, errors and delays.
 */
export const testServiceImpl: ServiceImpl<typeof TestService> = {
  async unary(req, ctx) {
    await delay(req.delayMillis, ctx.signal);
    applyHeadersAndTrailers(ctx, req, req);
    throwIfRequested(req);
    return { payload: req.payload, headers: metadataAsMap(ctx.metadata) };
  },

  async clientStream(requests, ctx) {
    let last: Message | undefined;
    let count = 0;
    for await (const req of requests) {
      last = req;
      count++;
      if (req.code !== 0) {
        break;
      }
    }
    const req = last ?? create(MessageSchema);
    await delay(req.delayMillis, ctx.signal);
    applyHeadersAndTrailers(ctx, req, req);
    throwIfRequested(req);
    return { payload: req.payload, headers: metadataAsMap(ctx.metadata), count };
  },

  async *serverStream(req, ctx) {
    await delay(req.delayMillis, ctx.signal);
    setMetadata(ctx.responseHeaders, req.headers);
    const headers = metadataAsMap(ctx.metadata);
    for (let i = 0; i < req.count; i++) {
      yield { payload: req.payload, headers };
    }
    setMetadata(ctx.responseTrailers, req.trailers);
    throwIfRequested(req);
  },

  async *bidiStream(requests, ctx) {
    const headers = metadataAsMap(ctx.metadata);
    let last: Message | undefined;
    let count = 0;
    let halfDuplex = false;
    const buffered: Array<{ payload: Uint8Array; headers: Record<string, Uint8Array>; count: number }> = [];
    for await (const req of requests) {
      last = req;
      await delay(req.delayMillis, ctx.signal);
      if (count === 0) {
        setMetadata(ctx.responseHeaders, req.headers);
        halfDuplex = req.count < 0;
      }
      count++;
      if (req.code !== 0) {
        break;
      }
      const reply = { payload: req.payload, headers, count };
      if (halfDuplex) {
        buffered.push(reply);
      } else {
        yield reply;
      }
    }
    yield* buffered;
    if (last !== undefined) {
      setMetadata(ctx.responseTrailers, last.trailers);
      throwIfRequested(last);
    }
  },

  useExternalMessageTwice() {
    return {};
  },
};

function applyHeadersAndTrailers(ctx: HandlerContext, headersFrom: Message, trailersFrom: Message): void {
  setMetadata(ctx.responseHeaders, headersFrom.headers);
  setMetadata(ctx.responseTrailers, trailersFrom.trailers);
}

function throwIfRequested(req: Message): void {
  if (req.code !== 0) {
    throw new TunnelError(req.code, "error", { details: req.errorDetails });
  }
}

/**
 * Adds a map of byte values to metadata: raw bytes for `-bin` keys, text
 * otherwise. Adds rather than replaces, like Go's `MetadataNew`, which
 * appends when two keys differ only in case.
 */
export function setMetadata(md: Metadata, values: Record<string, Uint8Array>): void {
  for (const [key, value] of Object.entries(values)) {
    md.add(key, key.endsWith("-bin") ? Buffer.from(value) : Buffer.from(value).toString("utf8"));
  }
}

/** Request metadata as a map, keeping the last value of each key (as Go's `asMap`). */
export function metadataAsMap(md: Metadata): Record<string, Uint8Array> {
  const map: Record<string, Uint8Array> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    const last = values[values.length - 1];
    if (last !== undefined) {
      map[key] = typeof last === "string" ? Buffer.from(last, "utf8") : last;
    }
  }
  return map;
}

/** Waits `millis` (if > 0); stops early with the signal's reason when the call ends. */
function delay(millis: number, signal: AbortSignal): Promise<void> {
  if (millis <= 0) {
    return Promise.resolve();
  }
  if (signal.aborted) {
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, millis);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import { type MessageSchema, TestService, type Message } from "@protoc-gen-tunnel/interop";
import {
  bidiStreamCall,
  type CallChannel,
  type CallOptions,
  clientStreamCall,
  serverStreamCall,
  TunnelError,
  unaryCall,
} from "@protoc-gen-tunnel/runtime";
import type { EventLog } from "./event-log.js";
import type { Releases } from "./releases.js";
import {
  type CallResult,
  type CallSpec,
  decodeValue,
  encodeValue,
  fromBytesMap,
  isPattern,
  newResult,
  pattern,
  toBytesMap,
} from "./spec.js";

/**
 * Runs a CallSpec on a TypeScript channel exactly as the Go programs do
 * (interop/go/internal/calls/run.go): the same requests, cancellation,
 * stalls, barrier and report.
 */
export async function runTsCall(channel: CallChannel, spec: CallSpec, log: EventLog, releases: Releases): Promise<CallResult> {
  const start = performance.now();
  const copies = Math.max(1, spec.concurrency ?? 1);
  const barrier = spec.barrier ? new Barrier(copies) : undefined;
  const results = await Promise.all(Array.from({ length: copies }, () => runOne(channel, spec, log, releases, barrier)));
  return { ...merge(results), id: spec.id, elapsedMs: performance.now() - start };
}

type Request = MessageInitShape<typeof MessageSchema>;

async function runOne(channel: CallChannel, spec: CallSpec, log: EventLog, releases: Releases, barrier?: Barrier): Promise<CallResult> {
  const abort = new AbortController();
  const result = newResult(spec.id);
  let arrived = false;
  const arrive = () => {
    if (!arrived) {
      arrived = true;
      barrier?.arrive();
    }
  };
  const options: CallOptions = {
    signal: abort.signal,
    timeoutMs: spec.timeoutMs,
    metadata: Object.fromEntries(Object.entries(spec.metadata ?? {}).map(([k, v]) => [k, k.endsWith("-bin") ? decodeValue(k, v) : v])),
    onHeader: (md) => (result.headers = fromMetadata(md)),
    onTrailer: (md) => (result.trailers = fromMetadata(md)),
  };
  const streamsRequests = spec.method === "clientStream" || spec.method === "bidi";
  const requestCount = streamsRequests ? Math.max(1, spec.requests ?? 1) : 1;
  const request = (i: number): Request => ({
    payload: pattern(spec.requestBytes ?? 0),
    headers: toBytesMap(spec.responseHeaders),
    trailers: toBytesMap(spec.responseTrailers),
    ...(i === requestCount - 1
      ? {
          code: spec.code ?? 0,
          errorDetails: (spec.details ?? []).map((d) => ({ typeUrl: d.typeUrl, value: decodeValue("x-bin", d.value) })),
          delayMillis: spec.delayMs ?? 0,
        }
      : {}),
    count: spec.method === "serverStream" ? (spec.responses ?? 0) : spec.method === "bidi" && spec.halfDuplex && i === 0 ? -1 : 0,
  });
  const observe = (resp: Message) => {
    result.responses++;
    result.responseBytes += resp.payload.length;
    if (resp.payload.length !== (spec.requestBytes ?? 0) || !isPattern(resp.payload)) result.badPayloads++;
    result.echoed ??= fromBytesMap(resp.headers);
    if (result.counts === null) result.counts = [];
    if (result.counts.length < 16) result.counts.push(resp.count);
  };
  const afterResponse = async () => {
    const n = result.responses;
    if (n === spec.cancelAfterResponses) abort.abort();
    if (n === spec.stallAfterResponses) {
      log.push({ event: "stalled", call: spec.id, n });
      await releases.wait(spec.id);
    }
    if (n === 1 && barrier !== undefined) {
      arrive();
      await barrier.all;
    }
  };
  async function* requests(turns?: Turns) {
    for (let i = 0; i < requestCount; i++) {
      yield request(i);
      if (spec.progress) log.push({ event: "sent", call: spec.id, n: i + 1 });
      if (turns !== undefined && !(await turns.next())) return;
    }
  }
  try {
    switch (spec.method) {
      case "unary":
        observe(await unaryCall(channel, TestService.method.unary, request(0), options));
        break;
      case "clientStream":
        observe(await clientStreamCall(channel, TestService.method.clientStream, requests(), options));
        break;
      case "serverStream":
        for await (const resp of serverStreamCall(channel, TestService.method.serverStream, request(0), options)) {
          observe(resp);
          await afterResponse();
        }
        break;
      case "bidi": {
        // Ping-pong, as the Go caller: the next request waits for the last answer.
        const turns = new Turns(abort.signal);
        const responses = bidiStreamCall(channel, TestService.method.bidiStream, requests(spec.halfDuplex ? undefined : turns), options);
        try {
          for await (const resp of responses) {
            observe(resp);
            await afterResponse();
            turns.answered();
          }
        } finally {
          turns.end();
        }
        break;
      }
    }
  } catch (e) {
    const error = TunnelError.from(e);
    result.code = error.code;
    result.message = error.rawMessage;
    result.details = error.details.map((d) => ({ typeUrl: d.typeUrl, value: Buffer.from(d.value).toString("base64") }));
    if (Object.keys(result.trailers).length === 0) result.trailers = fromMetadata(error.metadata);
  } finally {
    arrive();
  }
  return result;
}

function fromMetadata(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    const last = values[values.length - 1];
    if (last !== undefined) out[key] = encodeValue(key, last);
  }
  return out;
}

function merge(results: CallResult[]): CallResult {
  const total = { ...results[0]!, calls: results.length, failed: 0 };
  for (const [i, r] of results.entries()) {
    if (r.code !== 0) {
      total.failed++;
      if (total.failed === 1) Object.assign(total, { code: r.code, message: r.message, details: r.details });
    }
    if (i > 0) {
      total.responses += r.responses;
      total.responseBytes += r.responseBytes;
      total.badPayloads += r.badPayloads;
    }
  }
  return total;
}

/** Holds copies of a call until every copy arrived. */
class Barrier {
  readonly all: Promise<void>;
  private open!: () => void;
  constructor(private waiting: number) {
    this.all = new Promise((resolve) => (this.open = resolve));
  }
  arrive(): void {
    if (this.waiting > 0 && --this.waiting === 0) this.open();
  }
}

/** Ping-pong turns of a bidi call: a request waits until the previous one was answered. */
class Turns {
  private asked = 0;
  private answers = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(signal: AbortSignal) {
    signal.addEventListener("abort", () => this.end(), { once: true });
  }

  /** After sending a request: resolves true once it was answered, false if the call ended first. */
  async next(): Promise<boolean> {
    this.asked++;
    while (this.answers < this.asked && !this.ended) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return !this.ended;
  }

  answered(): void {
    this.answers++;
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }
}

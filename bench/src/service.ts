import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TestService, Message, MessageSchema } from "@protoc-gen-tunnel/interop";
import type { HandlerContext, ServiceImpl } from "@protoc-gen-tunnel/runtime";

// The one service implementation every variant serves (over a forward
// tunnel, a reverse tunnel and plain grpc-js), on the grpchantesting
// TestService descriptors. The interop TestService echoes request metadata
// into every response, which makes responses differ per transport; this one
// sends exactly the bytes the workload asked for:
//   unary         echoes the payload;
//   serverStream  `count` responses (negative: until cancelled; 0: none, the
//                 call stays open and idle until cancelled), each with a
//                 payload of the size in headers["response-bytes"];
//   clientStream  a sink: reads everything, answers with the message count;
//   bidiStream    echoes every request at once (ping-pong).

const RESPONSE_BYTES = "response-bytes";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A server-streaming request for `count` responses of `size` bytes each. */
export function streamRequest(size: number, count: number): MessageInitShape<typeof MessageSchema> {
  return { count, headers: { [RESPONSE_BYTES]: encoder.encode(String(size)) } };
}

function responseSize(request: Message): number {
  const raw = request.headers[RESPONSE_BYTES];
  return raw === undefined ? 0 : Number(decoder.decode(raw));
}

/** Payloads are shared, read-only: the transports copy them into frames anyway. */
const payloads = new Map<number, Uint8Array>();
export function payloadOf(size: number): Uint8Array {
  let payload = payloads.get(size);
  if (payload === undefined) {
    payload = new Uint8Array(size).fill(0x5a);
    payloads.set(size, payload);
  }
  return payload;
}

/** Counts the idle server streams whose handler is running (in this process). */
class IdleStreams {
  private count = 0;
  private waiters: Array<{ target: number; resolve: () => void }> = [];

  get active(): number {
    return this.count;
  }

  /** Resolves once exactly `target` idle handlers are running. */
  waitFor(target: number): Promise<void> {
    if (this.count === target) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  change(delta: number): void {
    this.count += delta;
    const ready = this.waiters.filter((w) => w.target === this.count);
    if (ready.length > 0) {
      this.waiters = this.waiters.filter((w) => w.target !== this.count);
      for (const waiter of ready) {
        waiter.resolve();
      }
    }
  }
}

export const idleStreams = new IdleStreams();

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
    } else {
      signal.addEventListener("abort", () => resolve(), { once: true });
    }
  });
}

// biome-ignore lint/correctness/useYield: an idle stream sends nothing; it only waits to be cancelled.
async function* idle(ctx: HandlerContext): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
  idleStreams.change(+1);
  try {
    await aborted(ctx.signal);
  } finally {
    idleStreams.change(-1);
  }
}

export const benchServiceImpl: ServiceImpl<typeof TestService> = {
  unary(req) {
    return { payload: req.payload };
  },

  serverStream(req, ctx) {
    if (req.count === 0) {
      return idle(ctx);
    }
    return stream(req, ctx);
  },

  async clientStream(requests) {
    let count = 0;
    for await (const _ of requests) {
      count++;
    }
    return { count };
  },

  async *bidiStream(requests) {
    for await (const req of requests) {
      yield { payload: req.payload };
    }
  },

  useExternalMessageTwice() {
    return {};
  },
};

async function* stream(req: Message, ctx: HandlerContext): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
  const response = { payload: payloadOf(responseSize(req)) };
  for (let sent = 0; req.count < 0 || sent < req.count; sent++) {
    if (ctx.signal.aborted) {
      return;
    }
    yield response;
  }
}

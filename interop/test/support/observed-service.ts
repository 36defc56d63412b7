import type { HandlerContext, ServiceImpl } from "@protoc-gen-tunnel/runtime";
import type { TestService } from "../../src/gen/grpchantesting/test_pb.js";
import { testServiceImpl } from "../../src/test-service.js";

/** What one TestService handler did, in order: "read" a request, saw the "end" of requests, yielded a "reply". */
export class HandlerLog {
  readonly events: string[] = [];
  /** Resolves with the reason when the handler's signal aborts (cancel, deadline, tunnel end). */
  readonly aborted: Promise<unknown>;

  constructor(
    readonly method: string,
    context: HandlerContext,
  ) {
    this.aborted = new Promise((resolve) => context.signal.addEventListener("abort", () => resolve(context.signal.reason), { once: true }));
  }
}

/**
 * The interop TestService, unchanged, with its handlers observed from the
 * outside: when each call starts, what it reads and replies in which order,
 * and whether its signal aborted. Lets tests wait for causes instead of
 * sleeping (e.g. cancel only once the handler runs).
 */
export class ObservedTestService {
  private readonly pending: HandlerLog[] = [];
  private readonly waiting: Array<(log: HandlerLog) => void> = [];
  readonly impl: ServiceImpl<typeof TestService>;

  constructor(base: ServiceImpl<typeof TestService> = testServiceImpl) {
    const begin = (method: string, context: HandlerContext) => {
      const log = new HandlerLog(method, context);
      const waiter = this.waiting.shift();
      if (waiter) {
        waiter(log);
      } else {
        this.pending.push(log);
      }
      return log;
    };
    this.impl = {
      unary: (request, context) => {
        begin("Unary", context);
        return base.unary(request, context);
      },
      clientStream: (requests, context) => {
        const log = begin("ClientStream", context);
        return base.clientStream(tapRequests(requests, log), context);
      },
      serverStream: (request, context) => {
        const log = begin("ServerStream", context);
        return tapReplies(base.serverStream(request, context), log);
      },
      bidiStream: (requests, context) => {
        const log = begin("BidiStream", context);
        return tapReplies(base.bidiStream(tapRequests(requests, log), context), log);
      },
      useExternalMessageTwice: (request, context) => {
        begin("UseExternalMessageTwice", context);
        return base.useExternalMessageTwice(request, context);
      },
    };
  }

  /** The next call a handler started (in start order), as soon as it starts. */
  nextCall(): Promise<HandlerLog> {
    const log = this.pending.shift();
    if (log) {
      return Promise.resolve(log);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

async function* tapRequests<T>(requests: AsyncIterable<T>, log: HandlerLog): AsyncGenerator<T> {
  for await (const request of requests) {
    log.events.push("read");
    yield request;
  }
  log.events.push("end");
}

async function* tapReplies<T>(replies: AsyncIterable<T>, log: HandlerLog): AsyncGenerator<T> {
  for await (const reply of replies) {
    log.events.push("reply");
    yield reply;
  }
}

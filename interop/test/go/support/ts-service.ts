import { type TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, type HandlerContext, type ServiceImpl, TunnelError } from "@protoc-gen-tunnel/runtime";
import type { EventLog } from "./event-log.js";
import type { Releases } from "./releases.js";
import { CALL_HEADER, CANCELED, DEADLINE_EXCEEDED, PARK_HEADER } from "./spec.js";

/**
 * The interop TestService with the same reports as the Go one
 * (interop/go/internal/testsvc): a call named by x-interop-call reports
 * how its handler ended and each response sent; x-interop-park makes a
 * streaming handler wait for the test's release before reading.
 */
export function observedTestService(log: EventLog, releases: Releases): ServiceImpl<typeof TestService> {
  const idOf = (ctx: HandlerContext) => {
    const id = ctx.metadata.get(CALL_HEADER)[0];
    return typeof id === "string" ? id : undefined;
  };
  const end = (ctx: HandlerContext, method: string, error: unknown) => {
    const id = idOf(ctx);
    if (id === undefined) return;
    log.push({
      event: "handler-end",
      call: id,
      method,
      error: error === undefined ? undefined : String(error),
      ctxError: ctx.signal.aborted ? ctxError(ctx.signal.reason) : undefined,
    });
  };
  const park = async (ctx: HandlerContext) => {
    const id = idOf(ctx);
    if (id !== undefined && ctx.metadata.get(PARK_HEADER).length > 0) {
      log.push({ event: "parked", call: id });
      await releases.wait(id, ctx.signal);
    }
  };
  return {
    async unary(req, ctx) {
      let error: unknown;
      try {
        return await testServiceImpl.unary(req, ctx);
      } catch (e) {
        error = e;
        throw e;
      } finally {
        end(ctx, "Unary", error);
      }
    },
    async clientStream(requests, ctx) {
      let error: unknown;
      try {
        await park(ctx);
        return await testServiceImpl.clientStream(requests, ctx);
      } catch (e) {
        error = e;
        throw e;
      } finally {
        end(ctx, "ClientStream", error);
      }
    },
    async *serverStream(req, ctx) {
      let error: unknown;
      let sent = 0;
      const id = idOf(ctx);
      try {
        for await (const response of testServiceImpl.serverStream(req, ctx)) {
          yield response;
          sent++;
          if (id !== undefined) log.push({ event: "sent", call: id, n: sent });
        }
      } catch (e) {
        error = e;
        throw e;
      } finally {
        end(ctx, "ServerStream", error);
      }
    },
    async *bidiStream(requests, ctx) {
      let error: unknown;
      try {
        await park(ctx);
        yield* testServiceImpl.bidiStream(requests, ctx);
      } catch (e) {
        error = e;
        throw e;
      } finally {
        end(ctx, "BidiStream", error);
      }
    },
    useExternalMessageTwice: testServiceImpl.useExternalMessageTwice,
  };
}

/** A handler's abort reason in Go's words, so events compare across languages. */
function ctxError(reason: unknown): string {
  const code = TunnelError.from(reason).code;
  if (code === Code.CANCELLED) return CANCELED;
  if (code === Code.DEADLINE_EXCEEDED) return DEADLINE_EXCEEDED;
  return `aborted with code ${code}`;
}

import type { ServiceImpl } from "@protoc-gen-tunnel/runtime";
import type { TestService } from "./gen/grpchantesting/test_pb.js";

/** Completed calls per kind: what the interop programs report. */
export interface CallCounts {
  unary: number;
  clientStream: number;
  serverStream: number;
  bidiStream: number;
}

export const CALL_KINDS = ["unary", "clientStream", "serverStream", "bidiStream"] as const satisfies readonly (keyof CallCounts)[];

/** The names the programs print, Go-flag style. */
const LABELS: Record<keyof CallCounts, string> = {
  unary: "unary",
  clientStream: "client-stream",
  serverStream: "server-stream",
  bidiStream: "bidi",
};

export function newCallCounts(): CallCounts {
  return { unary: 0, clientStream: 0, serverStream: 0, bidiStream: 0 };
}

export function totalCalls(counts: CallCounts): number {
  return counts.unary + counts.clientStream + counts.serverStream + counts.bidiStream;
}

/** "unary=12 client-stream=3 server-stream=9 bidi=8 (32 total)" */
export function formatCallCounts(counts: CallCounts): string {
  const parts = CALL_KINDS.map((kind) => `${LABELS[kind]}=${counts[kind]}`);
  return `${parts.join(" ")} (${totalCalls(counts)} total)`;
}

/** Reads back what `formatCallCounts` wrote (for tests that run the programs). */
export function parseCallCounts(text: string): CallCounts | undefined {
  const counts = newCallCounts();
  for (const kind of CALL_KINDS) {
    const match = new RegExp(`(?:^|\\s)${LABELS[kind]}=(\\d+)(?:\\s|$)`).exec(text);
    if (match === null) {
      return undefined;
    }
    counts[kind] = Number(match[1]);
  }
  return counts;
}

/**
 * Wraps a TestService implementation to count the calls it completed
 * successfully, per kind (what the reverse-tunnel side of the test client
 * reports; Go counts with a server interceptor).
 */
export function countingTestService(impl: ServiceImpl<typeof TestService>, counts: CallCounts): ServiceImpl<typeof TestService> {
  return {
    async unary(request, context) {
      const response = await impl.unary(request, context);
      counts.unary++;
      return response;
    },
    async clientStream(requests, context) {
      const response = await impl.clientStream(requests, context);
      counts.clientStream++;
      return response;
    },
    async *serverStream(request, context) {
      yield* impl.serverStream(request, context);
      counts.serverStream++;
    },
    async *bidiStream(requests, context) {
      yield* impl.bidiStream(requests, context);
      counts.bidiStream++;
    },
    useExternalMessageTwice: (request, context) => impl.useExternalMessageTwice(request, context),
  };
}

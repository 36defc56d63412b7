import { fromBinary } from "@bufbuild/protobuf";
import { type CallChannel, codeName, createTunnelClient, TunnelError } from "@protoc-gen-tunnel/runtime";
import { MessageSchema, TestService, type Message } from "../../src/gen/grpchantesting/test_pb.js";
import type { FrameRecorder } from "./frame-recorder.js";
import { decodeFrame, type Transcript } from "./transcript.js";
import type { Script, SessionSetup } from "./tunnel-session.js";
import { frameBytes, type Vector as GoVector } from "../../../runtime/test/support/vectors.js";

// The wire vectors recorded from the Go reference, loaded by the runtime's tests' loader.
export { loadVector, type Vector as GoVector } from "../../../runtime/test/support/vectors.js";

/** The vector as a transcript (its frames per direction), comparable with a recording. */
export function vectorTranscript(v: GoVector): Transcript {
  const frames = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  for (const f of v.frames) {
    frames[f.dir].push(frameBytes(f));
  }
  return { ...v, description: "", results: [], frames };
}

/** How the Go programs were set up for each vector (vectors README, "Files"). */
/** The chunk size the Go reference sends (it accepts larger chunks within the window). */
const GO_CHUNK_BYTES = 16_384;

export function vectorSetup(v: GoVector): SessionSetup {
  const tunnelMetadata: Record<string, string> = {};
  for (const [key, values] of Object.entries(v.request_headers)) {
    if (key !== "grpctunnel-negotiate") {
      tunnelMetadata[key] = values[0];
    }
  }
  return {
    kind: v.tunnel_kind,
    tunnelMetadata,
    networkClientNoFlowControl: v.scenario.startsWith("fwd-rev0-"),
    networkServerNoFlowControl: v.scenario.startsWith("fwd-svrnofc-"),
    hideNegotiation: v.scenario.startsWith("fwd-legacy-"),
    maxChunkBytes: GO_CHUNK_BYTES, // send like Go, so the bytes can be compared
  };
}

/** One call the Go client made, read back from its frames. */
interface VectorCall {
  id: bigint;
  method: string;
  metadata: Record<string, string>;
  requests: Message[];
  cancelled: boolean;
}

export function vectorCalls(v: GoVector): VectorCall[] {
  const calls = new Map<bigint, VectorCall & { pending?: { size: number; chunks: Uint8Array[] } }>();
  for (const f of v.frames.filter((f) => f.dir === "c2s")) {
    const frame = decodeFrame("c2s", frameBytes(f));
    if (frame.frame.case === "newStream") {
      const metadata: Record<string, string> = {};
      for (const [key, values] of Object.entries(frame.frame.value.requestHeaders?.md ?? {})) {
        metadata[key] = values.val[0];
      }
      calls.set(frame.streamId, { id: frame.streamId, method: frame.frame.value.methodName, metadata, requests: [], cancelled: false });
      continue;
    }
    const call = calls.get(frame.streamId)!;
    switch (frame.frame.case) {
      case "requestMessage":
        call.pending = { size: frame.frame.value.size, chunks: [frame.frame.value.data] };
        break;
      case "moreRequestData":
        call.pending!.chunks.push(frame.frame.value);
        break;
      case "cancel":
        call.cancelled = true;
        break;
    }
    const pending = call.pending;
    if (pending !== undefined && pending.chunks.reduce((n, c) => n + c.length, 0) === pending.size) {
      call.requests.push(fromBinary(MessageSchema, Buffer.concat(pending.chunks)));
      call.pending = undefined;
    }
  }
  return [...calls.values()];
}

/**
 * Makes the Go client's calls again with this runtime's client, one after
 * the other, in the same way: a bidi call sends each request after the
 * previous echo (the vectors' "b1, echo, b2, echo"), a cancelled call is
 * cancelled once the server has its half-close.
 */
export function replayScript(calls: VectorCall[]): Script {
  return async (channel, recorder) => {
    const results: string[] = [];
    for (const call of calls) {
      results.push(await replay(channel, recorder, call).catch((e: unknown) => describeError(TunnelError.from(e))));
    }
    return results;
  };
}

async function replay(channel: CallChannel, recorder: FrameRecorder, call: VectorCall): Promise<string> {
  const client = createTunnelClient(TestService, channel);
  const options = { metadata: call.metadata };
  switch (call.method) {
    case "/grpchantesting.TestService/Unary":
      return `OK ${(await client.unary(call.requests[0], options)).payload.length}`;
    case "/grpchantesting.TestService/ClientStream":
      return `OK count=${(await client.clientStream(iterate(call.requests), options)).count}`;
    case "/grpchantesting.TestService/ServerStream": {
      const abort = new AbortController();
      if (call.cancelled) {
        void recorder
          .waitFor((f) => f.dir === "c2s" && f.frame.streamId === call.id && f.frame.frame.case === "halfClose")
          .then(() => abort.abort());
      }
      let received = 0;
      for await (const _ of client.serverStream(call.requests[0], { ...options, signal: abort.signal })) {
        received++;
      }
      return `OK ${received} messages`;
    }
    case "/grpchantesting.TestService/BidiStream": {
      let echoes = 0;
      let wake: (() => void) | undefined;
      async function* lockStep() {
        for (const [i, request] of call.requests.entries()) {
          while (echoes < i) {
            await new Promise<void>((resolve) => (wake = resolve));
          }
          yield request;
        }
      }
      for await (const _ of client.bidiStream(lockStep(), options)) {
        echoes++;
        wake?.();
      }
      return `OK ${echoes} echoes`;
    }
  }
  throw new Error(`no replay for ${call.method}`);
}

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

function describeError(error: TunnelError): string {
  return `${codeName(error.code)}: ${error.rawMessage}`;
}

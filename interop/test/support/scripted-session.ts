import { create } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { type CallChannel, Code, createTunnelClient, TunnelError } from "@protoc-gen-tunnel/runtime";
import { TestService } from "../../src/gen/grpchantesting/test_pb.js";
import { testPayload } from "../../src/send-rpcs.js";
import type { FrameRecorder } from "./frame-recorder.js";
import { deferred } from "../../../runtime/src/deferred.js";
import { recordTunnel, type RecordedSession, type SessionSetup } from "./tunnel-session.js";

export type { SessionSetup } from "./tunnel-session.js";

const text = (s: string) => new Uint8Array(Buffer.from(s));
const describeError = (e: unknown) => {
  const error = TunnelError.from(e);
  return `${Code[error.code]}: ${error.rawMessage}`;
};

/**
 * The scripted session: on one tunnel, one after another, one call of each
 * kind, an empty message, an error with details and trailers, a cancelled
 * call and a message of more than one 128 KiB chunk. Calls never overlap, so the frames of each
 * direction come in one deterministic order (only window updates depend on
 * timing).
 */
async function runScript(channel: CallChannel, recorder: FrameRecorder): Promise<string[]> {
  const results: string[] = [];
  const client = createTunnelClient(TestService, channel);

  const unary = await client.unary({ payload: text("0123456789") }, { metadata: { "x-test": "a" } });
  results.push(`Unary: OK payload=${Buffer.from(unary.payload).toString()} headers=${Object.keys(unary.headers).join(",")}`);

  async function* three() {
    yield { payload: text("m1") };
    yield { payload: text("m2") };
    yield { payload: text("m3") };
  }
  const clientStream = await client.clientStream(three());
  results.push(`ClientStream: OK count=${clientStream.count} payload=${Buffer.from(clientStream.payload).toString()}`);

  const streamed: number[] = [];
  for await (const response of client.serverStream({ count: 3, payload: testPayload(100) })) {
    streamed.push(response.payload.length);
  }
  results.push(`ServerStream: OK sizes=${streamed.join(",")}`);

  // Lock-step bidi: b2 goes out only after b1's echo came back.
  const firstEcho = deferred();
  async function* lockStep() {
    yield { payload: text("b1") };
    await firstEcho.promise;
    yield { payload: text("b2") };
  }
  const echoes: string[] = [];
  for await (const response of client.bidiStream(lockStep())) {
    echoes.push(`${Buffer.from(response.payload).toString()}#${response.count}`);
    firstEcho.resolve();
  }
  results.push(`BidiStream: OK ${echoes.join(" ")}`);

  await client.useExternalMessageTwice({});
  results.push("UseExternalMessageTwice: OK");

  let trailer = "";
  const details = [anyPack(StringValueSchema, create(StringValueSchema, { value: "detail" }))];
  const failed = await client
    .unary(
      { payload: text("e"), code: Code.NOT_FOUND, errorDetails: details, trailers: { t: text("v") } },
      {
        onTrailer: (md) => (trailer = String(md.get("t")[0])),
      },
    )
    .catch(describeError);
  results.push(`Unary: ${String(failed)} trailer t=${trailer}`);

  // Cancel once the server has the whole call (half-close recorded), so the
  // frames before the cancel are the same every time.
  const abort = new AbortController();
  const cancelledId = BigInt(recorder.frames.filter((f) => f.frame.frame.case === "newStream").length + 1);
  const cancelled = (async () => {
    for await (const _ of client.serverStream({ count: 1, delayMillis: 30_000 }, { signal: abort.signal })) {
      return "ServerStream: unexpected response";
    }
    return "ServerStream: unexpected success";
  })().catch(describeError);
  await recorder.waitFor((f) => f.dir === "c2s" && f.frame.frame.case === "halfClose" && f.frame.streamId === cancelledId);
  abort.abort();
  results.push(`${await cancelled} (cancelled)`);

  const large = await client.unary({ payload: testPayload(200_000) });
  results.push(`Unary: OK payload=${large.payload.length} bytes`);
  return results;
}

/** Runs the scripted session over a fresh tunnel of the given setup, recording it at the network server. */
export function recordSession(setup: SessionSetup): Promise<RecordedSession> {
  return recordTunnel({ tunnelMetadata: setup.kind === "reverse" ? { "test-client-key": "rev-session" } : {}, ...setup }, runScript);
}

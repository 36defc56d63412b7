import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { MessageSchema, TestService, testServiceImpl, type Message } from "@protoc-gen-tunnel/interop";
import { tunnelChannel, type TunnelChannel } from "../src/api/tunnels/index.js";
import { ServiceRegistry } from "../src/api/serve/index.js";
import { Code } from "../src/code.js";
import { TunnelClientEngine } from "../src/engine/client-engine.js";
import { DEFAULT_LIMITS } from "../src/engine/limits.js";
import { TunnelServerEngine } from "../src/engine/server-engine.js";
import {
  ClientToServerSchema,
  ProtocolRevision,
  ServerToClientSchema,
  type ClientToServer,
  type ServerToClient,
} from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { GO_CHUNK_BYTES } from "../src/protocol/constants.js";
import { metadataFromProto } from "../src/protocol/metadata-codec.js";
import { MemoryConn } from "./support/memory-conn.js";
import { clientFrames, loadVectors, serverFrames, type Vector } from "./support/vectors.js";
import { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";

const vectors = loadVectors();
// Our engines send like Go here (16 KiB chunks), so their frames compare byte for byte.
const goLimits = { ...DEFAULT_LIMITS, maxChunkBytes: GO_CHUNK_BYTES };
type Frame = ClientToServer | ServerToClient;

const isWindowUpdate = (f: Frame) => f.frame.case === "windowUpdate";
const hex = (schema: typeof ClientToServerSchema | typeof ServerToClientSchema, f: Frame) =>
  Buffer.from(toBinary(schema as typeof ClientToServerSchema, f as ClientToServer)).toString("hex");

/** Whole messages of a frame sequence, reassembled from their chunks. */
function messagesOf(frames: Frame[]): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let current: Buffer | undefined;
  let size = 0;
  for (const { frame } of frames) {
    if (frame.case === "requestMessage" || frame.case === "responseMessage") {
      current = Buffer.from(frame.value.data);
      size = frame.value.size;
    } else if (frame.case === "moreRequestData" || frame.case === "moreResponseData") {
      current = Buffer.concat([current!, frame.value]);
    } else {
      continue;
    }
    if (current.length === size) {
      messages.push(new Uint8Array(current));
      current = undefined;
    }
  }
  return messages;
}

function closeOf(frames: ServerToClient[]) {
  const close = frames.find((f) => f.frame.case === "closeStream");
  return close?.frame.case === "closeStream" ? close.frame.value : undefined;
}

const offersRevisionOne = (v: Vector) =>
  serverFrames(v).some(
    (f) => f.frame.case === "settings" && f.frame.value.supportedProtocolRevisions.includes(ProtocolRevision.REVISION_ONE),
  );

describe("Go reference vectors: our tunnel-server engine accepts the Go client's side", () => {
  for (const vector of vectors) {
    it(vector.scenario, async () => {
      const registry = new ServiceRegistry();
      registry.registerService(TestService, testServiceImpl);
      const conn = new MemoryConn<ServerToClient>();
      const engine = new TunnelServerEngine(conn, {
        flowControl: offersRevisionOne(vector) || !serverFrames(vector).some((f) => f.frame.case === "settings"),
        peerAdvertised: vector.request_headers["grpctunnel-negotiate"]?.[0] === "on",
        tunnelMetadata: new Metadata(),
        peer: "test",
        limits: goLimits,
        lookup: (m) => registry.lookup(m),
        isShuttingDown: () => false,
      });
      engine.start();
      for (const frame of clientFrames(vector)) {
        engine.receive(frame);
      }
      await conn.until((frames) => frames.some((f) => f.frame.case === "closeStream"));
      expect(conn.abortedWith).toBeUndefined();

      const ours = conn.written.filter((f) => !isWindowUpdate(f));
      const theirs = serverFrames(vector).filter((f) => !isWindowUpdate(f));
      if (vector.scenario === "fwd-rev1-cancel") {
        // Go answers a cancel with UNKNOWN "context canceled"; we send CANCELLED.
        expect(ours.map((f) => f.frame.case)).toEqual(theirs.map((f) => f.frame.case));
        expect(closeOf(ours)?.status?.code).toBe(Code.CANCELLED);
      } else if (vector.scenario === "fwd-rev1-flowcontrol") {
        // Chunk boundaries depend on when credit arrived; messages may not.
        expect(messagesOf(ours)).toEqual(messagesOf(theirs));
        expect(closeOf(ours)).toEqual(closeOf(theirs));
      } else {
        expect(ours.map((f) => hex(ServerToClientSchema, f))).toEqual(theirs.map((f) => hex(ServerToClientSchema, f)));
      }
    });
  }
});

describe("Go reference vectors: our tunnel-client engine accepts the Go server's side", () => {
  for (const vector of vectors) {
    it(vector.scenario, async () => {
      const goClient = clientFrames(vector);
      const goServer = serverFrames(vector);
      const newStream = goClient[0].frame.case === "newStream" ? goClient[0].frame.value : undefined;
      expect(newStream).toBeDefined();
      const hasSettings = goServer[0]?.frame.case === "settings";
      const conn = new MemoryConn<ClientToServer>();
      const engine = new TunnelClientEngine(conn, {
        // The Go client of the rev0 scenarios disabled flow control.
        flowControl: !(offersRevisionOne(vector) && newStream!.protocolRevision === ProtocolRevision.REVISION_ZERO),
        expectSettings: hasSettings,
        limits: goLimits,
      });
      const toFeed = [...goServer];
      if (hasSettings) {
        engine.receive(toFeed.shift()!);
      }
      await engine.ready;
      const channel = tunnelChannel(engine, { direction: "forward", metadata: new Metadata(), peer: "replay" });
      const requests = messagesOf(goClient).map((bytes) => fromBinary(MessageSchema, bytes));
      const metadata = metadataFromProto(newStream!.requestHeaders, Code.INTERNAL);
      const abort = new AbortController();
      const outcome = runCall(channel, newStream!.methodName, requests, { metadata, signal: abort.signal });

      if (vector.scenario === "fwd-rev1-cancel") {
        await conn.until((frames) => frames.some((f) => f.frame.case === "halfClose"));
        abort.abort();
      }
      await feedLikeThePeer(vector, engine, conn, toFeed, engine.protocolRevision === ProtocolRevision.REVISION_ONE);
      const result = await outcome;

      const ours = conn.written.filter((f) => !isWindowUpdate(f));
      const theirs = goClient.filter((f) => !isWindowUpdate(f));
      expect(ours.map((f) => hex(ClientToServerSchema, f))).toEqual(theirs.map((f) => hex(ClientToServerSchema, f)));
      expect(conn.abortedWith).toBeUndefined();
      if (vector.scenario === "fwd-rev1-cancel") {
        expect(result.error?.code).toBe(Code.CANCELLED);
      } else {
        const goClose = closeOf(goServer);
        expect(result.error?.code ?? Code.OK).toBe(goClose?.status?.code ?? Code.OK);
        const expected = goClose?.status ? [] : messagesOf(goServer).map((b) => fromBinary(MessageSchema, b));
        expect(result.responses).toEqual(expected);
      }
    });
  }
});

interface CallResult {
  responses: Message[];
  error: { code: Code } | undefined;
}

/** Makes the same call the Go client made, through our typed API. */
async function runCall(
  channel: TunnelChannel,
  methodName: string,
  requests: Message[],
  options: { metadata: Metadata; signal: AbortSignal },
): Promise<CallResult> {
  const responses: Message[] = [];
  const method = methodName.split("/").pop();
  async function* stream() {
    yield* requests;
  }
  try {
    switch (method) {
      case "Unary":
        responses.push(await unaryCall(channel, TestService.method.unary, requests[0], options));
        break;
      case "ClientStream":
        responses.push(await clientStreamCall(channel, TestService.method.clientStream, stream(), options));
        break;
      case "ServerStream":
        for await (const res of serverStreamCall(channel, TestService.method.serverStream, requests[0], options)) {
          responses.push(res);
        }
        break;
      case "BidiStream":
        for await (const res of bidiStreamCall(channel, TestService.method.bidiStream, stream(), options)) {
          responses.push(res);
        }
        break;
      default:
        throw new Error(`unexpected method ${methodName}`);
    }
    return { responses, error: undefined };
  } catch (e) {
    return { responses, error: e as { code: Code } };
  }
}

/**
 * Feeds recorded server frames to our client the way the Go server sent
 * them: each only after we have written the client frames the recording
 * shows before it (the server was answering those), and data only while our
 * receive window (65536 plus the credit we sent) has room for it.
 */
async function feedLikeThePeer(
  vector: Vector,
  engine: TunnelClientEngine,
  conn: MemoryConn<ClientToServer>,
  frames: ServerToClient[],
  flowControl: boolean,
): Promise<void> {
  // For each recorded server frame: how many client frames (window updates
  // aside, they depend on timing) the recording has before it.
  const clientFramesBefore: number[] = [];
  let seen = 0;
  for (const f of vector.frames) {
    if (f.dir === "c2s") {
      seen += (f.json as { windowUpdate?: number }).windowUpdate === undefined ? 1 : 0;
    } else {
      clientFramesBefore.push(seen);
    }
  }
  clientFramesBefore.splice(0, clientFramesBefore.length - frames.length);
  let sent = 0;
  const credit = (written: ClientToServer[]) => written.reduce((sum, f) => sum + (f.frame.case === "windowUpdate" ? f.frame.value : 0), 0);
  for (const [index, frame] of frames.entries()) {
    await conn.until((written) => written.filter((f) => !isWindowUpdate(f)).length >= clientFramesBefore[index]);
    const length =
      frame.frame.case === "responseMessage"
        ? frame.frame.value.data.length
        : frame.frame.case === "moreResponseData"
          ? frame.frame.value.length
          : 0;
    if (flowControl && length > 0) {
      await conn.until((written) => sent + length <= 65_536 + credit(written));
    }
    sent += length;
    engine.receive(frame);
  }
}

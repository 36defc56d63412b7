import { createHash } from "node:crypto";
import { createRegistry, fromBinary, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { DurationSchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { ClientToServerSchema, ServerToClientSchema, type ClientToServer, type ServerToClient } from "@protoc-gen-tunnel/runtime/tunnelpb";
import type { Direction, RecordedFrame } from "./frame-recorder.js";

/**
 * A wire transcript: the frames of each direction in wire order, as exact
 * bytes. Split by direction because the order across directions depends on
 * timing. Stored as two files per scenario under test/golden: a binary one
 * per direction (size-delimited frames, the exact bytes) and a readable JSON
 * one (canonical proto3 JSON per frame, long data abbreviated).
 */
export interface Transcript {
  scenario: string;
  description: string;
  method: string;
  tunnel_kind: "forward" | "reverse";
  request_headers: Record<string, string[]>;
  response_headers: Record<string, string[]>;
  results: string[];
  frames: Record<Direction, Uint8Array[]>;
}

type Frame = ClientToServer | ServerToClient;
export const DIRECTIONS = ["c2s", "s2c"] as const;

// Any messages in error details are printed with their type.
const registry = createRegistry(StringValueSchema, DurationSchema);

export function decodeFrame(dir: Direction, bytes: Uint8Array): Frame {
  return dir === "c2s" ? fromBinary(ClientToServerSchema, bytes) : fromBinary(ServerToClientSchema, bytes);
}

function encodeFrame(dir: Direction, frame: Frame): Uint8Array {
  return dir === "c2s" ? toBinary(ClientToServerSchema, frame as ClientToServer) : toBinary(ServerToClientSchema, frame as ServerToClient);
}

export function framesOf(recorded: readonly RecordedFrame[], dir: Direction): Uint8Array[] {
  return recorded.filter((f) => f.dir === dir).map((f) => f.bytes);
}

const isWindowUpdate = (dir: Direction, bytes: Uint8Array) => decodeFrame(dir, bytes).frame.case === "windowUpdate";

// ---- storage ----

/** Frames as one binary blob: each frame's length as a varint, then its bytes. */
export function encodeFrameStream(frames: readonly Uint8Array[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const frame of frames) {
    writer.bytes(frame);
  }
  return writer.finish();
}

export function decodeFrameStream(blob: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(blob);
  const frames: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    frames.push(reader.bytes());
  }
  return frames;
}

/** The readable JSON of a transcript: everything but the bytes, which are the binary files. */
export function readableJson(transcript: Transcript, binaryFiles: Record<Direction, string>): JsonValue {
  const { frames, ...rest } = transcript;
  return {
    ...rest,
    binary: binaryFiles,
    frames: {
      c2s: frames.c2s.map((bytes) => readableFrame("c2s", bytes)),
      s2c: frames.s2c.map((bytes) => readableFrame("s2c", bytes)),
    },
  };
}

const LONG_DATA = 64;

/** Canonical proto3 JSON of a frame (as in runtime/test/vectors/go-reference), with data chunks over 64 bytes abbreviated. */
export function readableFrame(dir: Direction, bytes: Uint8Array): JsonValue {
  const frame = decodeFrame(dir, bytes);
  const json = (
    dir === "c2s"
      ? toJson(ClientToServerSchema, frame as ClientToServer, { registry })
      : toJson(ServerToClientSchema, frame as ServerToClient, { registry })
  ) as Record<string, JsonValue>;
  const abbreviate = (data: Uint8Array) => `${data.length} bytes, sha256 ${createHash("sha256").update(data).digest("hex").slice(0, 16)}`;
  switch (frame.frame.case) {
    case "requestMessage":
    case "responseMessage":
      if (frame.frame.value.data.length > LONG_DATA) {
        json[frame.frame.case] = { ...(json[frame.frame.case] as Record<string, JsonValue>), data: abbreviate(frame.frame.value.data) };
      }
      break;
    case "moreRequestData":
    case "moreResponseData":
      if (frame.frame.value.length > LONG_DATA) {
        json[frame.frame.case] = abbreviate(frame.frame.value);
      }
      break;
  }
  return { bytes: bytes.length, frame: json };
}

// ---- comparison ----

/**
 * Differences between a recorded transcript and its golden copy. Strict on
 * everything but what legitimately depends on timing: the order across
 * directions (not compared) and window updates (checked for plausibility
 * instead of position: credit goes back as the application reads, and stops
 * at the stream's end).
 */
export function compareTranscripts(actual: Transcript, golden: Transcript): string[] {
  const problems: string[] = [];
  for (const key of ["method", "tunnel_kind", "request_headers", "response_headers", "results"] as const) {
    if (canonical(actual[key]) !== canonical(golden[key])) {
      problems.push(`${key}: got ${JSON.stringify(actual[key])}, golden has ${JSON.stringify(golden[key])}`);
    }
  }
  for (const dir of DIRECTIONS) {
    const got = actual.frames[dir].filter((f) => !isWindowUpdate(dir, f));
    const want = golden.frames[dir].filter((f) => !isWindowUpdate(dir, f));
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      if (!sameBytes(got[i], want[i])) {
        problems.push(
          `${dir} frame ${i} (not counting window updates) differs:\n  got    ${describe(dir, got[i])}\n  golden ${describe(dir, want[i])}`,
        );
        break; // later frames usually differ as a consequence
      }
    }
  }
  problems.push(...windowUpdateProblems(actual));
  return problems;
}

/** JSON with object keys sorted: metadata maps have no order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;
}

function describe(dir: Direction, bytes: Uint8Array | undefined): string {
  return bytes === undefined
    ? "(none)"
    : `${Buffer.from(bytes).toString("hex").slice(0, 120)} ${JSON.stringify(readableFrame(dir, bytes))}`;
}

/**
 * Window updates must name a revision-1 stream and never return more
 * credit than the data received on that stream plus what the window may
 * grow by.
 */
/** A receive window may grow from the advertised 64 KiB to the runtime's default maxReceiveWindowBytes (1 MiB) by extra credit. */
const MAX_WINDOW_GROWTH = 1024 * 1024 - 65_536;

export function windowUpdateProblems(transcript: Transcript): string[] {
  const problems: string[] = [];
  const revisions = new Map<bigint, number>();
  const dataBytes = { c2s: new Map<bigint, number>(), s2c: new Map<bigint, number>() };
  const credit = { c2s: new Map<bigint, number>(), s2c: new Map<bigint, number>() };
  for (const dir of DIRECTIONS) {
    for (const bytes of transcript.frames[dir]) {
      const frame = decodeFrame(dir, bytes);
      const id = frame.streamId;
      switch (frame.frame.case) {
        case "newStream":
          revisions.set(id, frame.frame.value.protocolRevision);
          break;
        case "requestMessage":
        case "responseMessage":
          add(dataBytes[dir], id, frame.frame.value.data.length);
          break;
        case "moreRequestData":
        case "moreResponseData":
          add(dataBytes[dir], id, frame.frame.value.length);
          break;
        case "windowUpdate":
          add(credit[dir], id, frame.frame.value);
          if (frame.frame.value <= 0) {
            problems.push(`${dir} window update of ${frame.frame.value} for stream ${id}`);
          }
          break;
      }
    }
  }
  for (const dir of DIRECTIONS) {
    const other = dir === "c2s" ? "s2c" : "c2s";
    for (const [id, granted] of credit[dir]) {
      if (revisions.get(id) !== 1) {
        problems.push(`${dir} window update for stream ${id}, which is not a revision-1 stream`);
      } else if (granted > (dataBytes[other].get(id) ?? 0) + MAX_WINDOW_GROWTH) {
        problems.push(
          `${dir} returned ${granted} bytes of credit for stream ${id}, more than the ${dataBytes[other].get(id) ?? 0} it received plus the window's growth`,
        );
      }
    }
  }
  return problems;
}

/**
 * A golden transcript must be coherent: its binary frames re-encode to
 * themselves (Go's canonical encoding: field order, no defaults) and its
 * JSON is what they decode to.
 */
export function selfConsistencyProblems(golden: Transcript, json: JsonValue): string[] {
  const problems: string[] = [];
  const stored = (json as { frames: Record<Direction, JsonValue[]> }).frames;
  for (const dir of DIRECTIONS) {
    golden.frames[dir].forEach((bytes, i) => {
      const reencoded = encodeFrame(dir, decodeFrame(dir, bytes));
      if (!sameBytes(reencoded, bytes)) {
        problems.push(`${dir} frame ${i}: re-encodes to other bytes (${Buffer.from(reencoded).toString("hex").slice(0, 80)}...)`);
      }
      if (JSON.stringify(readableFrame(dir, bytes)) !== JSON.stringify(stored[dir]?.[i])) {
        problems.push(
          `${dir} frame ${i}: binary decodes to ${JSON.stringify(readableFrame(dir, bytes))}, JSON has ${JSON.stringify(stored[dir]?.[i])}`,
        );
      }
    });
    if (stored[dir]?.length !== golden.frames[dir].length) {
      problems.push(`${dir}: ${golden.frames[dir].length} binary frames, ${stored[dir]?.length} JSON frames`);
    }
  }
  return problems;
}

function add(map: Map<bigint, number>, id: bigint, n: number): void {
  map.set(id, (map.get(id) ?? 0) + n);
}

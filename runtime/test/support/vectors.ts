import { readdirSync, readFileSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import {
  ClientToServerSchema,
  ServerToClientSchema,
  type ClientToServer,
  type ServerToClient,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";

const dir = new URL("../vectors/go-reference/", import.meta.url);

export interface VectorFrame {
  dir: "c2s" | "s2c";
  rpc: "request" | "response";
  type: "ClientToServer" | "ServerToClient";
  hex: string;
  json: unknown;
}

export interface Vector {
  scenario: string;
  method: string;
  tunnel_kind: "forward" | "reverse";
  request_headers: Record<string, string[]>;
  response_headers: Record<string, string[]>;
  frames: VectorFrame[];
  client_results: string[];
}

/**
 * The one loader of the frames recorded from the Go reference
 * implementation (runtime/test/vectors/go-reference; its README says how
 * they were made). The interop tests replay them too.
 */
export function loadVectors(): Vector[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => loadVector(name.slice(0, -".json".length)));
}

/** One recording, by scenario name (e.g. "fwd-rev1-unary"). */
export function loadVector(scenario: string): Vector {
  return JSON.parse(readFileSync(new URL(`${scenario}.json`, dir), "utf8")) as Vector;
}

export function frameBytes(frame: VectorFrame): Uint8Array {
  return new Uint8Array(Buffer.from(frame.hex, "hex"));
}

export function clientFrames(vector: Vector): ClientToServer[] {
  return vector.frames.filter((f) => f.dir === "c2s").map((f) => fromBinary(ClientToServerSchema, frameBytes(f)));
}

export function serverFrames(vector: Vector): ServerToClient[] {
  return vector.frames.filter((f) => f.dir === "s2c").map((f) => fromBinary(ServerToClientSchema, frameBytes(f)));
}

import type * as grpc from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import {
  ClientToServerSchema,
  ServerToClientSchema,
  type ClientToServer,
  type ServerToClient,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import type { tunnelServiceDefinition } from "../../src/transport/tunnel-service.js";

/**
 * Records every frame of the forward tunnels a server handles, as the bytes
 * grpc-js carried, by wrapping the tunnel service definition's codec.
 */
export function tapForwardFrames(service: [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation]): FrameTap {
  const [definition, impl] = service;
  const c2s: ClientToServer[] = [];
  const s2c: ServerToClient[] = [];
  const log: FrameTap["log"] = [];
  const openTunnel = {
    ...definition.openTunnel,
    requestDeserialize: (bytes: Buffer) => {
      const frame = fromBinary(ClientToServerSchema, bytes);
      c2s.push(frame);
      log.push({ dir: "c2s", frame });
      return definition.openTunnel.requestDeserialize(bytes);
    },
    responseSerialize: (frame: ServerToClient) => {
      const bytes = definition.openTunnel.responseSerialize(frame);
      // A copy, as grpc-js makes: the bytes may be in a buffer reused once the frame is sent.
      const sent = fromBinary(ServerToClientSchema, new Uint8Array(bytes));
      s2c.push(sent);
      log.push({ dir: "s2c", frame: sent });
      return bytes;
    },
  };
  return { service: [{ ...definition, openTunnel }, impl], c2s, s2c, log };
}

export interface FrameTap {
  service: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];
  c2s: ClientToServer[];
  s2c: ServerToClient[];
  /** Both directions in the order the server saw them (received / sent). */
  log: Array<{ dir: "c2s"; frame: ClientToServer } | { dir: "s2c"; frame: ServerToClient }>;
}

/**
 * Checks flow control as the server saw it: for each stream and direction,
 * data bytes never exceed the initial window plus the credit the receiver
 * had granted by then. Returns the violations (empty when all is well).
 */
export function windowViolations(log: FrameTap["log"], initialWindow = 65_536): string[] {
  const violations: string[] = [];
  const sent = new Map<string, number>();
  const credit = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, n: number) => map.set(key, (map.get(key) ?? 0) + n);
  for (const { dir, frame } of log) {
    const other = dir === "c2s" ? "s2c" : "c2s";
    const body = frame.frame;
    if (body.case === "windowUpdate") {
      add(credit, `${other}/${frame.streamId}`, body.value);
      continue;
    }
    const length =
      body.case === "requestMessage" || body.case === "responseMessage"
        ? body.value.data.length
        : body.case === "moreRequestData" || body.case === "moreResponseData"
          ? body.value.length
          : 0;
    if (length === 0) {
      continue;
    }
    const key = `${dir}/${frame.streamId}`;
    add(sent, key, length);
    if (sent.get(key)! > initialWindow + (credit.get(key) ?? 0)) {
      violations.push(`${key}: ${sent.get(key)} bytes sent with ${credit.get(key) ?? 0} credit`);
    }
  }
  return violations;
}

/** The data-chunk lengths of one stream, in order (envelopes and continuation chunks). */
export function dataChunks(frames: Array<ClientToServer | ServerToClient>, streamId: bigint): number[] {
  return frames
    .filter((f) => f.streamId === streamId)
    .flatMap(({ frame }) =>
      frame.case === "requestMessage" || frame.case === "responseMessage"
        ? [frame.value.data.length]
        : frame.case === "moreRequestData" || frame.case === "moreResponseData"
          ? [frame.value.length]
          : [],
    );
}

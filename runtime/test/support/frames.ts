import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import {
  ClientToServerSchema,
  CloseStreamSchema,
  MessageDataSchema,
  MetadataSchema,
  NewStreamSchema,
  ProtocolRevision,
  ServerToClientSchema,
  SettingsSchema,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";

const metadata = (md: Record<string, string> = {}) =>
  create(MetadataSchema, { md: Object.fromEntries(Object.entries(md).map(([k, v]) => [k, { val: [v] }])) });

/** Frame builders for tests (the runtime has its own; these stay independent on purpose). */
export const c2s = {
  newStream: (id: bigint, method: string, revision = ProtocolRevision.REVISION_ONE, md: Record<string, string> = {}) =>
    create(ClientToServerSchema, {
      streamId: id,
      frame: {
        case: "newStream",
        value: create(NewStreamSchema, {
          methodName: method,
          initialWindowSize: 65_536,
          protocolRevision: revision,
          requestHeaders: metadata(md),
        }),
      },
    }),
  message: (id: bigint, size: number, data: Uint8Array) =>
    create(ClientToServerSchema, { streamId: id, frame: { case: "requestMessage", value: create(MessageDataSchema, { size, data }) } }),
  more: (id: bigint, data: Uint8Array) => create(ClientToServerSchema, { streamId: id, frame: { case: "moreRequestData", value: data } }),
  halfClose: (id: bigint) => create(ClientToServerSchema, { streamId: id, frame: { case: "halfClose", value: create(EmptySchema) } }),
  cancel: (id: bigint) => create(ClientToServerSchema, { streamId: id, frame: { case: "cancel", value: create(EmptySchema) } }),
  windowUpdate: (id: bigint, n: number) => create(ClientToServerSchema, { streamId: id, frame: { case: "windowUpdate", value: n } }),
};

/** Frames a (possibly misbehaving) tunnel server sends, built by hand. */
export const s2c = {
  settings: (id: bigint, revisions: number[], window = 65_536) =>
    create(ServerToClientSchema, {
      streamId: id,
      frame: { case: "settings", value: create(SettingsSchema, { supportedProtocolRevisions: revisions, initialWindowSize: window }) },
    }),
  headers: (id: bigint, md: Record<string, string> = {}) =>
    create(ServerToClientSchema, { streamId: id, frame: { case: "responseHeaders", value: metadata(md) } }),
  message: (id: bigint, size: number, data: Uint8Array) =>
    create(ServerToClientSchema, { streamId: id, frame: { case: "responseMessage", value: create(MessageDataSchema, { size, data }) } }),
  more: (id: bigint, data: Uint8Array) => create(ServerToClientSchema, { streamId: id, frame: { case: "moreResponseData", value: data } }),
  close: (id: bigint, code = 0, message = "", trailers: Record<string, string> = {}) =>
    create(ServerToClientSchema, {
      streamId: id,
      frame: {
        case: "closeStream",
        value: create(CloseStreamSchema, {
          responseTrailers: metadata(trailers),
          status: code === 0 ? undefined : create(StatusSchema, { code, message }),
        }),
      },
    }),
  windowUpdate: (id: bigint, n: number) => create(ServerToClientSchema, { streamId: id, frame: { case: "windowUpdate", value: n } }),
  empty: (id: bigint) => create(ServerToClientSchema, { streamId: id }),
};

/** A ClientToServer frame with no frame set (what an unknown future frame type decodes to). */
export const emptyClientFrame = (id: bigint) => create(ClientToServerSchema, { streamId: id });

/** Byte-for-byte equality of large arrays, without a deep-equality diff (slow for megabytes). */
export function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array): boolean {
  return actual !== undefined && Buffer.compare(actual, expected) === 0;
}

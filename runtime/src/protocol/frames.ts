import { create } from "@bufbuild/protobuf";
import type { Status } from "../gen/google/rpc/status_pb.js";
import {
  ServerToClientSchema,
  SettingsSchema,
  type ClientToServer,
  type Metadata,
  type ProtocolRevision,
  type ServerToClient,
} from "../gen/grpctunnel/v1/tunnel_pb.js";
import { SETTINGS_STREAM_ID } from "./constants.js";

/**
 * The two frames that carry one message in a given direction: an envelope
 * with the total size and first chunk, then continuation chunks. Requests
 * and responses use different oneof cases (and frame types); the message
 * sender and receiver are written once against this pair.
 */
export interface MessageFrames<F> {
  envelope(streamId: bigint, size: number, data: Uint8Array): F;
  more(streamId: bigint, data: Uint8Array): F;
}

// Frames are built as literals: exactly what create() returns for these
// proto3 messages (plain objects, every field set), without its init object
// and field-by-field copy; a call sends six frames. Tests compare both.
const C2S = "grpctunnel.v1.ClientToServer";
const S2C = "grpctunnel.v1.ServerToClient";
const MESSAGE_DATA = "grpctunnel.v1.MessageData";
const NEW_STREAM = "grpctunnel.v1.NewStream";
const CLOSE_STREAM = "grpctunnel.v1.CloseStream";
const EMPTY = "google.protobuf.Empty";

export const requestFrames: MessageFrames<ClientToServer> = {
  envelope: (streamId, size, data) => ({
    $typeName: C2S,
    streamId,
    frame: { case: "requestMessage", value: { $typeName: MESSAGE_DATA, size, data } },
  }),
  more: (streamId, data) => ({ $typeName: C2S, streamId, frame: { case: "moreRequestData", value: data } }),
};

export const responseFrames: MessageFrames<ServerToClient> = {
  envelope: (streamId, size, data) => ({
    $typeName: S2C,
    streamId,
    frame: { case: "responseMessage", value: { $typeName: MESSAGE_DATA, size, data } },
  }),
  more: (streamId, data) => ({ $typeName: S2C, streamId, frame: { case: "moreResponseData", value: data } }),
};

/** Frames the tunnel client sends besides message data. */
export const clientFrames = {
  newStream: (
    streamId: bigint,
    methodName: string,
    requestHeaders: Metadata,
    initialWindowSize: number,
    protocolRevision: ProtocolRevision,
  ): ClientToServer => ({
    $typeName: C2S,
    streamId,
    frame: { case: "newStream", value: { $typeName: NEW_STREAM, methodName, requestHeaders, initialWindowSize, protocolRevision } },
  }),
  halfClose: (streamId: bigint): ClientToServer => ({
    $typeName: C2S,
    streamId,
    frame: { case: "halfClose", value: { $typeName: EMPTY } },
  }),
  cancel: (streamId: bigint): ClientToServer => ({ $typeName: C2S, streamId, frame: { case: "cancel", value: { $typeName: EMPTY } } }),
  windowUpdate: (streamId: bigint, credit: number): ClientToServer => ({
    $typeName: C2S,
    streamId,
    frame: { case: "windowUpdate", value: credit },
  }),
};

/** Frames the tunnel server sends besides message data. */
export const serverFrames = {
  settings: (supportedProtocolRevisions: ProtocolRevision[], initialWindowSize: number): ServerToClient =>
    create(ServerToClientSchema, {
      streamId: SETTINGS_STREAM_ID,
      frame: {
        case: "settings",
        value: create(SettingsSchema, { supportedProtocolRevisions, initialWindowSize }),
      },
    }),
  headers: (streamId: bigint, headers: Metadata): ServerToClient => ({
    $typeName: S2C,
    streamId,
    frame: { case: "responseHeaders", value: headers },
  }),
  close: (streamId: bigint, responseTrailers: Metadata, status: Status | undefined): ServerToClient => ({
    $typeName: S2C,
    streamId,
    frame: {
      case: "closeStream",
      // A status is absent on success (create() leaves an unset message field out).
      value: status === undefined ? { $typeName: CLOSE_STREAM, responseTrailers } : { $typeName: CLOSE_STREAM, responseTrailers, status },
    },
  }),
  windowUpdate: (streamId: bigint, credit: number): ServerToClient => ({
    $typeName: S2C,
    streamId,
    frame: { case: "windowUpdate", value: credit },
  }),
};

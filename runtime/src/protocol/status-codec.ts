import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { Code, isValidCode } from "../code.js";
import { TunnelError } from "../errors.js";
import { StatusSchema, type Status } from "../gen/google/rpc/status_pb.js";

/**
 * The `CloseStream.status` for a call's outcome: absent on success (what Go
 * sends), otherwise code, message and details. A code outside gRPC's 0–16
 * goes out as UNKNOWN, and details that are not `google.protobuf.Any`
 * messages are left out: either would make the frame unencodable or
 * meaningless to the peer.
 */
export function statusToProto(error: TunnelError | undefined): Status | undefined {
  if (error === undefined || error.code === Code.OK) {
    return undefined;
  }
  const code = isValidCode(error.code) ? error.code : Code.UNKNOWN;
  return create(StatusSchema, { code, message: error.rawMessage, details: error.details.filter(isAny) });
}

/**
 * What a status from a peer may carry when it is passed on (to the caller,
 * to the next hop of a relay, into grpc-js headers): the message in UTF-16
 * units, and the details in number and bytes (type URLs and values), as
 * grpc-js bounds the metadata it takes. What is cut is said at the end of
 * the message, within its bound.
 */
export const MAX_STATUS_MESSAGE_CHARS = 8 * 1024;
export const MAX_STATUS_DETAILS = 64;
export const MAX_STATUS_DETAILS_BYTES = 64 * 1024;

/**
 * The call error a `CloseStream.status` describes; undefined on success. A
 * code outside 0–16 is UNKNOWN. The message and details are bounded (see
 * MAX_STATUS_MESSAGE_CHARS), with a note of what was left out.
 */
export function errorFromStatus(status: Status | undefined, trailers: Metadata): TunnelError | undefined {
  if (status === undefined || status.code === Code.OK) {
    return undefined;
  }
  const code = isValidCode(status.code) ? status.code : Code.UNKNOWN;
  let { message, details } = status;
  const kept = keptDetails(details);
  let note = "";
  if (kept < details.length) {
    note = ` [${details.length - kept} of ${details.length} status details left out]`;
    details = details.slice(0, kept);
  }
  // The note fits within the bound, so the next hop of a relay passes this on unchanged.
  if (message.length + note.length > MAX_STATUS_MESSAGE_CHARS) {
    note = ` [message truncated from ${message.length} characters]${note}`;
    message = message.slice(0, MAX_STATUS_MESSAGE_CHARS - note.length);
  }
  return new TunnelError(code, message + note, { details, metadata: trailers });
}

/** How many of `details`, from the first, fit MAX_STATUS_DETAILS and MAX_STATUS_DETAILS_BYTES. */
function keptDetails(details: readonly Any[]): number {
  let bytes = 0;
  const most = Math.min(details.length, MAX_STATUS_DETAILS);
  for (let i = 0; i < most; i++) {
    bytes += details[i]!.typeUrl.length + details[i]!.value.length;
    if (bytes > MAX_STATUS_DETAILS_BYTES) {
      return i;
    }
  }
  return most;
}

function isAny(value: unknown): value is Any {
  const any = value as Partial<Any> | null;
  return (
    typeof any === "object" &&
    any !== null &&
    any.$typeName === "google.protobuf.Any" &&
    typeof any.typeUrl === "string" &&
    any.value instanceof Uint8Array
  );
}

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

/** The call error a `CloseStream.status` describes; undefined on success. A code outside 0–16 is UNKNOWN. */
export function errorFromStatus(status: Status | undefined, trailers: Metadata): TunnelError | undefined {
  if (status === undefined || status.code === Code.OK) {
    return undefined;
  }
  const code = isValidCode(status.code) ? status.code : Code.UNKNOWN;
  return new TunnelError(code, status.message, { details: status.details, metadata: trailers });
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

import { create } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { StatusSchema, type Status } from "../gen/google/rpc/status_pb.js";

/**
 * The `CloseStream.status` for a call's outcome: absent on success (what Go
 * sends), otherwise code, message and details.
 */
export function statusToProto(error: TunnelError | undefined): Status | undefined {
  if (error === undefined || error.code === Code.OK) {
    return undefined;
  }
  return create(StatusSchema, { code: error.code, message: error.rawMessage, details: [...error.details] });
}

/** The call error a `CloseStream.status` describes; undefined on success. */
export function errorFromStatus(status: Status | undefined, trailers: Metadata): TunnelError | undefined {
  if (status === undefined || status.code === Code.OK) {
    return undefined;
  }
  return new TunnelError(status.code, status.message, { details: status.details, metadata: trailers });
}

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { Code, TunnelError } from "@protoc-gen-tunnel/runtime";
import { StatusSchema } from "@protoc-gen-tunnel/runtime/tunnelpb";

/**
 * The trailer that carries a full `google.rpc.Status` (with details) over
 * plain gRPC, as grpc-go writes it. Tunnels carry the same status in
 * `CloseStream.status` instead.
 */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/**
 * The grpc-js status a failed handler ends its call with: code and message
 * from the error, trailers from the handler plus the error's metadata, and
 * the details (when there are any) in `grpc-status-details-bin`.
 */
export function statusFromError(error: TunnelError, trailers: Metadata): StatusObject {
  const metadata = trailers.clone();
  metadata.merge(error.metadata);
  if (error.details.length > 0) {
    const status = create(StatusSchema, { code: error.code, message: error.rawMessage, details: [...error.details] });
    const bytes = toBinary(StatusSchema, status);
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return { code: error.code, details: error.rawMessage, metadata };
}

/**
 * The TunnelError a caller sees for a failed grpc-js call: the same shape a
 * tunneled call fails with (details unpacked from `grpc-status-details-bin`,
 * trailers without that key), so both transports compare equal.
 */
export function errorFromStatus(status: StatusObject): TunnelError {
  const trailers = status.metadata.clone();
  trailers.remove(STATUS_DETAILS_KEY);
  return new TunnelError(status.code, status.details, { details: detailsOf(status.metadata), metadata: trailers });
}

/** Trailers as a caller sees them: without the encoded status. */
export function visibleTrailers(metadata: Metadata): Metadata {
  const trailers = metadata.clone();
  trailers.remove(STATUS_DETAILS_KEY);
  return trailers;
}

function detailsOf(metadata: Metadata): TunnelError["details"] {
  const encoded = metadata.get(STATUS_DETAILS_KEY)[0];
  if (!(encoded instanceof Uint8Array)) {
    return [];
  }
  try {
    return fromBinary(StatusSchema, encoded).details;
  } catch {
    // A peer sent garbage: the code and message still stand on their own.
    return [];
  }
}

/** Turns anything a handler threw into the status it ends the call with (UNKNOWN if untyped, as the tunnel does). */
export function handlerError(reason: unknown): TunnelError {
  return TunnelError.from(reason, Code.UNKNOWN);
}

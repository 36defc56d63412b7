import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { Code, isValidCode } from "../../code.js";
import type { CallEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { isMetadata } from "../../metadata.js";

/**
 * The trailer in which gRPC implementations carry a serialized
 * `google.rpc.Status` with error details ("richer error model"). Tunnels
 * carry details in the status of `CloseStream` instead, so the grpc-js
 * adapters translate:
 *
 * - a grpc-js style handler (`addService`) that ends a call with this
 *   trailer: it is parsed, its details become the tunneled status's details
 *   (what Go peers and `TunnelError.details` see) and the trailer itself is
 *   not sent; one that does not parse stays an ordinary trailer;
 * - a grpc-js client on `grpcChannel`: when the tunneled status has details,
 *   the status metadata gets this trailer, `google.rpc.Status{code, message,
 *   details}` of the call, replacing any the peer sent.
 *
 * So a grpc-js client sees the same trailer through a tunnel as from a gRPC
 * server (when, as gRPC requires, the trailer's code and message are the
 * call's), and error-details libraries work unchanged.
 */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** A status as grpc-js handlers produce it (`code`, `details`, `metadata` all optional). */
export interface StatusLike {
  /** The status code; a missing or non-integer one becomes the fallback code. */
  code?: number;
  /** The status message. */
  details?: string;
  /** Trailers; details travel in their `grpc-status-details-bin` entry. */
  metadata?: Metadata | null;
}

/**
 * The tunnel error for a grpc-js style error status.
 *
 * Details mapping, grpc-js → tunnel: a `grpc-status-details-bin` trailer that
 * parses as a `google.rpc.Status` becomes the tunnel status's `details` (so
 * Go peers and `TunnelError.details` see them) and is removed from the
 * trailers; the tunnel carries the call's own code and message. A value that
 * does not parse stays an ordinary trailer. A code outside 0–16 (or not an
 * integer) becomes `fallbackCode`.
 */
export function tunnelErrorFromGrpcStatus(status: StatusLike, fallbackCode: Code = Code.UNKNOWN): TunnelError {
  const code = isValidCode(status.code) ? status.code : fallbackCode;
  const metadata = isMetadata(status.metadata) ? status.metadata.clone() : new Metadata();
  const encoded = metadata.get(STATUS_DETAILS_KEY)[0];
  let details: TunnelError["details"] = [];
  if (encoded instanceof Buffer) {
    try {
      details = fromBinary(StatusSchema, encoded).details;
      metadata.remove(STATUS_DETAILS_KEY);
    } catch {
      // not a google.rpc.Status: left as it is
    }
  }
  return new TunnelError(code, typeof status.details === "string" ? status.details : "", { metadata, details });
}

/**
 * The grpc-js status of a call that failed with `error`: its code, its raw
 * message, and its metadata as trailers.
 *
 * Details mapping, tunnel → grpc-js: when the error has details, the
 * trailers get a `grpc-status-details-bin` entry holding
 * `google.rpc.Status{code, message, details}` of the call, as a gRPC server
 * sends it, replacing any such trailer the peer sent.
 */
export function grpcStatusFromError(error: TunnelError): StatusObject {
  const metadata = error.metadata.clone();
  if (error.details.length > 0) {
    const status = create(StatusSchema, { code: error.code, message: error.rawMessage, details: [...error.details] });
    metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  }
  return { code: error.code, details: error.rawMessage, metadata };
}

/** The grpc-js status for how a tunneled call ended. */
export function grpcStatusFromCallEnd(end: CallEnd): StatusObject {
  return end.error === undefined ? { code: Code.OK, details: "OK", metadata: end.trailers } : grpcStatusFromError(end.error);
}

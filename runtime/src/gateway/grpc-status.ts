import type { OutgoingHttpHeaders } from "node:http";
import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import type { TunnelError } from "../errors.js";
import { STATUS_DETAILS_KEY, grpcStatusFromError } from "../api/grpc-services/index.js";
import { responseHeaders } from "./http-metadata.js";

/**
 * The trailers that end a gRPC or gRPC-Web call: the call's trailers, then
 * `grpc-status`, `grpc-message` (percent-encoded) and, when the status has
 * details, `grpc-status-details-bin` as gRPC servers send it.
 */
export function statusTrailers(error: TunnelError | undefined, trailers: Metadata): OutgoingHttpHeaders {
  const out = responseHeaders(trailers);
  if (error === undefined) {
    out["grpc-status"] = String(Code.OK);
    return out;
  }
  out["grpc-status"] = String(error.code);
  out["grpc-message"] = encodeGrpcMessage(error.rawMessage);
  const details = grpcStatusFromError(error).metadata.get(STATUS_DETAILS_KEY)[0];
  if (error.details.length > 0 && details instanceof Buffer) {
    out[STATUS_DETAILS_KEY] = details.toString("base64");
  }
  return out;
}

/** gRPC's percent-encoding of a status message: bytes outside printable ASCII, and "%", as %XX of their UTF-8. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) {
    return message;
  }
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

import { Code as ConnectCode, ConnectError, decodeBinaryHeader, encodeBinaryHeader } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { metadataEntries } from "../metadata.js";

/**
 * Fetch-API `Headers` (Connect's metadata) as call metadata. `-bin` values
 * are base64 in Headers, as Connect and gRPC-web send them; a key repeated
 * with `append` arrives comma-joined, so `-bin` values are split at commas
 * (base64 has none). Text values stay joined, as HTTP sends them.
 */
export function headersToMetadata(headers: Headers): Metadata {
  const md = new Metadata();
  headers.forEach((value, key) => {
    try {
      if (key.endsWith("-bin")) {
        for (const part of value.split(",")) {
          md.add(key, Buffer.from(decodeBinaryHeader(part.trim())));
        }
      } else {
        md.add(key, value);
      }
    } catch (e) {
      throw new TunnelError(Code.INTERNAL, `cannot send header ${JSON.stringify(key)}: ${(e as Error).message}`, { cause: e });
    }
  });
  return md;
}

/** Call metadata as Fetch-API `Headers`: `-bin` values base64-encoded, repeated keys appended. */
export function metadataToHeaders(md: Metadata | undefined, into = new Headers()): Headers {
  if (md !== undefined) {
    for (const [key, values] of metadataEntries(md)) {
      for (const value of values) {
        into.append(key, typeof value === "string" ? value : encodeBinaryHeader(value));
      }
    }
  }
  return into;
}

/**
 * The ConnectError a failed tunneled call surfaces as: same code (gRPC and
 * Connect number them alike), the raw status message, response headers and
 * trailers as `metadata`, and the status details as incoming details
 * (`findDetails` unpacks them).
 */
export function connectErrorFrom(reason: unknown, headers?: Metadata): ConnectError {
  if (reason instanceof ConnectError) {
    return reason;
  }
  const error = TunnelError.from(reason, Code.UNKNOWN);
  const code = error.code >= 1 && error.code <= 16 ? (error.code as number as ConnectCode) : ConnectCode.Unknown;
  const metadata = metadataToHeaders(error.metadata, metadataToHeaders(headers));
  const connectError = new ConnectError(error.rawMessage, code, metadata, undefined, error);
  connectError.details = error.details.map((any) => ({
    type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
    value: any.value,
  }));
  return connectError;
}

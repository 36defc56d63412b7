import type { Metadata } from "@grpc/grpc-js";
import type { Code } from "../code.js";
import type { TunnelError } from "../errors.js";

/*
 * The parts of the Connect protocol the gateway writes itself: error
 * bodies, the end of a stream, and status codes as HTTP statuses.
 */

/** Connect's name of each code, by code number (0, OK, has none). */
const CODE_NAMES = [
  "",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

/** The HTTP status of a unary Connect error, by code number. */
const HTTP_STATUS = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401] as const;

export function connectHttpStatus(code: Code): number {
  return HTTP_STATUS[code] ?? 500;
}

/** A Connect error as JSON: code name, message and details (type name, base64 value). */
export function connectErrorJson(error: TunnelError): Record<string, unknown> {
  const json: Record<string, unknown> = { code: CODE_NAMES[error.code] ?? "unknown" };
  if (error.rawMessage !== "") {
    json.message = error.rawMessage;
  }
  if (error.details.length > 0) {
    json.details = error.details.map((any) => ({
      type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
      value: Buffer.from(any.value).toString("base64").replace(/=+$/, ""),
    }));
  }
  return json;
}

/** The body of Connect's end-of-stream message: the error, if any, and the trailers. */
export function connectEndStream(error: TunnelError | undefined, trailers: Metadata): Uint8Array {
  const json: Record<string, unknown> = {};
  if (error !== undefined) {
    json.error = connectErrorJson(error);
  }
  const metadata: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(trailers.toHttp2Headers())) {
    metadata[name] = (Array.isArray(value) ? value : [value]).map(String);
  }
  if (Object.keys(metadata).length > 0) {
    json.metadata = metadata;
  }
  return Buffer.from(JSON.stringify(json), "utf8");
}

import { status } from "@grpc/grpc-js";

/**
 * gRPC status codes. This is grpc-js's own `status` enum, re-exported so that
 * codes from tunneled calls and direct grpc-js calls compare equal.
 */
export { status as Code };

/** The canonical name of a code, e.g. "NOT_FOUND"; the number if unknown. */
export function codeName(code: number): string {
  const name = (status as unknown as Record<number, string | undefined>)[code];
  return typeof name === "string" ? name : String(code);
}

/** True for a status code gRPC defines: an integer from 0 (OK) to 16 (UNAUTHENTICATED). */
export function isValidCode(code: unknown): code is status {
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 16;
}

import { ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { outcome } from "./events.js";

/** The ConnectError a call must fail with (the test fails if it succeeds or fails otherwise). */
export async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  const result = await outcome(promise);
  expect(result.ok).toBe(false);
  const error = (result as { error: unknown }).error;
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

/** Items as an async iterable, for streaming requests. */
export async function* messages<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

/** Bytes as UTF-8 text (empty for undefined). */
export const text = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? []).toString();

/**
 * The calls the interop matrix makes, as data both languages run: the Go
 * programs read them as JSON commands (interop/go/internal/calls), and
 * ts-caller.ts runs them on a TypeScript channel. Results and events have
 * the same shape from both, so one list of cases checks every pairing.
 */

export type CallMethod = "unary" | "clientStream" | "serverStream" | "bidi";

/** One call (or `concurrency` identical ones); JSON names match calls.Call in Go. */
export interface CallSpec {
  id: string;
  /** Go tunnel server only: the affinity key of the reverse tunnel to call over. */
  key?: string;
  method: CallMethod;
  /** Payload bytes of each request (the shared pattern: byte i is i mod 251). */
  requestBytes?: number;
  /** Client and bidi streams: how many requests (default 1). */
  requests?: number;
  /** Server streams: how many responses to ask for. */
  responses?: number;
  /** Bidi: the server buffers its replies until the client half-closes. */
  halfDuplex?: boolean;
  /** The server fails the call with this code, message "error", and these details. */
  code?: number;
  details?: AnyValue[];
  /** The server waits this long before answering (ended early by the call's end). */
  delayMs?: number;
  /** Request metadata; -bin values in base64. */
  metadata?: Record<string, string>;
  /** Headers and trailers the server is asked to send; -bin values in base64. */
  responseHeaders?: Record<string, string>;
  responseTrailers?: Record<string, string>;
  timeoutMs?: number;
  /** Cancel the call once this many responses arrived. */
  cancelAfterResponses?: number;
  /** Stop reading after this many responses until the test releases the call. */
  stallAfterResponses?: number;
  /** Report each request sent ("sent" events). */
  progress?: boolean;
  concurrency?: number;
  /** With `concurrency` on bidi calls: every stream stays open until each had its first response. */
  barrier?: boolean;
}

/** A google.protobuf.Any: type URL and base64 value. */
export interface AnyValue {
  typeUrl: string;
  value: string;
}

/** What a caller reports; with concurrency, sums and the first failure. */
export interface CallResult {
  id: string;
  code: number;
  message: string;
  details: AnyValue[];
  headers: Record<string, string>;
  trailers: Record<string, string>;
  /** The request metadata the server saw (from the first response). */
  echoed: Record<string, string> | null;
  responses: number;
  responseBytes: number;
  /** Responses whose payload was not the request's. */
  badPayloads: number;
  counts: number[] | null;
  calls: number;
  failed: number;
  elapsedMs: number;
}

/**
 * What the programs and the TypeScript side report as things happen:
 * `handler-end` (with `ctxError` "context canceled" or "context deadline
 * exceeded" when the call's end aborted the handler), `sent` (a response or
 * request was sent: `n` so far), `parked`, `stalled`, `listening`,
 * `reverse-open`, `ready`, `serving`, `result`.
 */
export interface InteropEvent {
  event: string;
  call?: string;
  id?: string;
  method?: string;
  address?: string;
  key?: string;
  n?: number;
  error?: string;
  ctxError?: string;
}

/** Request metadata that names a call in the handler's events. */
export const CALL_HEADER = "x-interop-call";
/** Request metadata that parks a streaming handler before it reads, until released. */
export const PARK_HEADER = "x-interop-park";

export const CANCELED = "context canceled";
export const DEADLINE_EXCEEDED = "context deadline exceeded";

/** The payload of `size` bytes both languages send: byte i is i mod 251. */
export function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  return bytes;
}

export function isPattern(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== i % 251) return false;
  }
  return true;
}

const isBinaryKey = (key: string) => key.endsWith("-bin");

/** A metadata value of the JSON form as bytes. */
export function decodeValue(key: string, value: string): Uint8Array {
  return isBinaryKey(key) ? new Uint8Array(Buffer.from(value, "base64")) : new TextEncoder().encode(value);
}

export function encodeValue(key: string, value: Uint8Array | string): string {
  if (typeof value === "string") return isBinaryKey(key) ? Buffer.from(value, "utf8").toString("base64") : value;
  return isBinaryKey(key) ? Buffer.from(value).toString("base64") : Buffer.from(value).toString("utf8");
}

export function toBytesMap(values: Record<string, string> = {}): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, decodeValue(k, v)]));
}

export function fromBytesMap(values: Record<string, Uint8Array>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, encodeValue(k, v)]));
}

/** A result with nothing received yet: what a caller fills in. */
export function newResult(id: string): CallResult {
  return {
    id,
    code: 0,
    message: "",
    details: [],
    headers: {},
    trailers: {},
    echoed: null,
    responses: 0,
    responseBytes: 0,
    badPayloads: 0,
    counts: null,
    calls: 1,
    failed: 0,
    elapsedMs: 0,
  };
}

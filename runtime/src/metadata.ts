import { Metadata } from "@grpc/grpc-js";

/** A metadata value: text for ordinary keys, bytes for keys ending in `-bin`. */
export type MetadataValue = string | Uint8Array;

/**
 * Anything that can become call metadata: a grpc-js `Metadata`, a record of
 * values (or arrays of values), or an iterable of key/value pairs.
 */
export type MetadataInit =
  | Metadata
  | Readonly<Record<string, MetadataValue | readonly MetadataValue[]>>
  | Iterable<readonly [string, MetadataValue]>;

/**
 * Builds a new grpc-js `Metadata` from `init` (always a copy, so callers may
 * keep mutating their own). Keys are validated by grpc-js: lowercase legal
 * characters, `Uint8Array` values exactly for `-bin` keys.
 */
export function toMetadata(init?: MetadataInit): Metadata {
  if (init === undefined) {
    return new Metadata();
  }
  if (init instanceof Metadata) {
    return init.clone();
  }
  const md = new Metadata();
  const entries: Iterable<readonly [string, MetadataValue | readonly MetadataValue[]]> = isIterable(init) ? init : Object.entries(init);
  for (const [key, value] of entries) {
    const values = Array.isArray(value) ? (value as readonly MetadataValue[]) : [value as MetadataValue];
    for (const v of values) {
      md.add(key, typeof v === "string" ? v : toBuffer(v));
    }
  }
  return md;
}

/** Every key/value pair of `md`, all values of repeated keys included. */
export function metadataEntries(md: Metadata): [string, MetadataValue[]][] {
  return Object.entries(md.toJSON());
}

function isIterable(value: object): value is Iterable<readonly [string, MetadataValue]> {
  return Symbol.iterator in value;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True for a grpc-js `Metadata` (of any copy of grpc-js). */
export function isMetadata(value: unknown): value is Metadata {
  return typeof value === "object" && value !== null && typeof (value as Metadata).getMap === "function";
}

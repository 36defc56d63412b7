import { type DescMessage, type MessageShape, ScalarType, toBinary } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { allocWithHeadroom } from "./headroom.js";
import { Varints, varintSize, writeVarint } from "./wire.js";

// Messages with large bytes fields, serialized with one copy of those bytes.
//
// protobuf-es's toBinary grows its buffer by doubling (a 64 KiB field
// lands in a zero-filled 128 KiB buffer) and returns a copy of what it
// wrote: three message-sized buffers and two copies per message. At bulk
// rates that was the sender's largest cost of its own, and such buffers are
// what drives V8's full collections (external memory). Here the rest of the
// message goes through toBinary (it is small), and the large fields are
// spliced into it where toBinary would have written them (it writes known
// fields by number, then unknown ones), in one buffer of the exact size with
// room in front for the data frame's header (headroom.ts), so a message
// sent whole needs no further copy either. The bytes are the ones toBinary
// writes; tests compare them.

/** Bytes fields shorter than this are left to toBinary. */
const MIN_BULK_BYTES = 8 * 1024;

/** Wire types (the low three bits of a tag). */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

interface BulkField {
  readonly localName: string;
  readonly number: number;
  readonly tag: number;
  /** What the field holds in the copy given to toBinary, so that it writes nothing for it. */
  readonly absent: Uint8Array | undefined;
}

interface BulkLayout {
  /** By field number. */
  readonly fields: readonly BulkField[];
  /** Numbers of the message's fields: the others in toBinary's output are unknown fields, written last. */
  readonly known: ReadonlySet<number>;
}

const EMPTY = new Uint8Array(0);
const layouts = new WeakMap<DescMessage, BulkLayout>();

/** The fields of `schema` this module may write: singular bytes fields outside oneofs, not proto2 `required`. */
function layoutOf(schema: DescMessage): BulkLayout {
  let layout = layouts.get(schema);
  // Stryker disable next-line ConditionalExpression: equivalent: the layout is a cache; building it again gives the same
  if (layout === undefined) {
    const fields = schema.fields
      .filter(
        (field) =>
          field.fieldKind === "scalar" &&
          field.scalar === ScalarType.BYTES &&
          field.oneof === undefined &&
          field.presence !== FeatureSet_FieldPresence.LEGACY_REQUIRED,
      )
      .sort((a, b) => a.number - b.number)
      .map((field) => ({
        localName: field.localName,
        number: field.number,
        tag: field.number * 8 + LEN,
        // Implicit presence: an empty value is not written. Explicit: an unset one is not.
        absent: field.presence === FeatureSet_FieldPresence.IMPLICIT ? EMPTY : undefined,
      }));
    layout = { fields, known: new Set(schema.fields.map((field) => field.number)) };
    layouts.set(schema, layout);
  }
  return layout;
}

/**
 * Serializes `message` as toBinary does, its large bytes fields with one
 * copy each; undefined when it has none (serialize it with toBinary).
 */
export function encodeBulk<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array | undefined {
  const { fields, known } = layoutOf(schema);
  // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: with no bytes fields the loop finds no large one and returns undefined too
  if (fields.length === 0) {
    return undefined;
  }
  const values = message as unknown as Record<string, unknown>;
  let large: Array<{ field: BulkField; value: Uint8Array }> | undefined;
  let rest: Record<string, unknown> | undefined;
  let tail = 0;
  for (const field of fields) {
    const value = values[field.localName];
    if (value instanceof Uint8Array && value.length >= MIN_BULK_BYTES && Object.hasOwn(values, field.localName)) {
      // A copy with the field absent (same prototype: proto2 defaults live there).
      rest ??= Object.assign(Object.create(Object.getPrototypeOf(message) as object | null) as Record<string, unknown>, values);
      rest[field.localName] = field.absent;
      (large ??= []).push({ field, value });
      tail += varintSize(field.tag) + varintSize(value.length) + value.length;
    }
  }
  if (large === undefined) {
    return undefined;
  }
  const head = toBinary(schema, rest as unknown as MessageShape<Desc>);
  const out = allocWithHeadroom(head.length + tail);
  const reader = new Varints(head);
  let pos = 0;
  for (const { field, value } of large) {
    // Copy the fields toBinary wrote before this one: known ones of lower number.
    const start = reader.pos;
    while (reader.pos < head.length) {
      const at = reader.pos;
      const number = skipField(reader);
      if (number > field.number || !known.has(number)) {
        reader.pos = at;
        break;
      }
    }
    out.set(head.subarray(start, reader.pos), pos);
    pos += reader.pos - start;
    pos = writeVarint(out, pos, field.tag);
    pos = writeVarint(out, pos, value.length);
    out.set(value, pos);
    pos += value.length;
  }
  out.set(head.subarray(reader.pos), pos);
  return out;
}

/** Reads past one field of toBinary's output; returns its number. */
function skipField(reader: Varints): number {
  const tag = readVarint(reader);
  const number = Math.floor(tag / 8);
  switch (tag % 8) {
    case VARINT:
      readVarint(reader);
      break;
    case I64:
      reader.pos += 8;
      break;
    case LEN: {
      const length = readVarint(reader); // read first: it moves the position
      reader.pos += length;
      break;
    }
    case SGROUP:
      while (reader.bytes[reader.pos] !== undefined && readVarintAt(reader) !== number * 8 + EGROUP) {
        skipField(reader);
      }
      readVarint(reader);
      break;
    case I32:
      reader.pos += 4;
      break;
    // Stryker disable next-line ConditionalExpression: unreachable: toBinary writes no wire type 6 or 7
    default:
      // Stryker disable next-line StringLiteral: unreachable, as above
      throw new Error(`unexpected wire type in field ${number}`);
  }
  // Stryker disable next-line BlockStatement: unreachable: toBinary writes no truncated field
  if (reader.pos > reader.bytes.length) {
    // Stryker disable next-line StringLiteral: unreachable, as above
    throw new Error(`truncated field ${number}`);
  }
  return number;
}

/** A varint of up to 10 bytes (int64 values), as a number: exact for the lengths and tags read here. */
function readVarint(reader: Varints): number {
  const value = reader.varint(10);
  if (value === undefined) {
    // Stryker disable next-line StringLiteral: unreachable: toBinary writes no malformed varint
    throw new Error("malformed varint");
  }
  return value;
}

/** The varint at the reader's position, without moving past it. */
function readVarintAt(reader: Varints): number {
  const at = reader.pos;
  const value = readVarint(reader);
  reader.pos = at;
  return value;
}

import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import { encodeBulk } from "../../protocol/bulk-encoding.js";

/** Serializes a message (or its init shape) of `schema`; large bytes fields with one copy (bulk-encoding.ts). */
export function encodeMessage<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): Uint8Array {
  try {
    const message = create(schema, init);
    return encodeBulk(schema, message) ?? toBinary(schema, message);
  } catch (e) {
    throw new TunnelError(Code.INTERNAL, `failed to serialize ${schema.typeName}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses a message of `schema`; a malformed one is an INTERNAL error, as in gRPC. */
export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new TunnelError(Code.INTERNAL, `failed to parse ${schema.typeName}: ${(e as Error).message}`, { cause: e });
  }
}

/** A message of `schema` from its init shape (the same object if it is one already). */
export function toMessage<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): MessageShape<Desc> {
  try {
    return create(schema, init);
  } catch (e) {
    throw new TunnelError(Code.INTERNAL, `failed to serialize ${schema.typeName}: ${(e as Error).message}`, { cause: e });
  }
}

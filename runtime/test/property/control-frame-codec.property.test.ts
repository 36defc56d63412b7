import fc from "fast-check";
import { create, fromBinary, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { AnySchema, EmptySchema } from "@bufbuild/protobuf/wkt";
import { Metadata as GrpcMetadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import {
  ClientToServerSchema,
  CloseStreamSchema,
  MetadataSchema,
  NewStreamSchema,
  ServerToClientSchema,
  type Metadata,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { encodeClientControl, encodeServerControl } from "../../src/protocol/control-frame-codec.js";
import {
  type DeferredNewStream,
  decodeClientControl,
  decodeServerControl,
  requestHeadersOf,
} from "../../src/protocol/control-frame-decode.js";
import {
  decodeClientToServer,
  decodeClientToServerDeferringHeaders,
  decodeServerToClient,
  encodeClientToServer,
  encodeServerToClient,
} from "../../src/protocol/frame-codec.js";
import { clientFrames, serverFrames } from "../../src/protocol/frames.js";
import { metadataToProto } from "../../src/protocol/metadata-codec.js";
import { fuzzParameters } from "./fuzz-config.js";

// The hand-written encoder of control frames (new_stream, half_close,
// cancel, headers, close_stream) must match protobuf-es byte for byte, for
// any content: what it does not handle itself goes through toBinary.
const idArb = fc.oneof(fc.bigInt({ min: -2n, max: 300n }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }));
// Any UTF-16 string, lone surrogates included (both encode them as U+FFFD).
const textArb = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 8 }),
);
const uintArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: -5, max: -1 }));
const unknownArb = fc.option(
  fc.constant(null).map((): UnknownField[] => [{ no: 99, wireType: WireType.Varint, data: new Uint8Array([1]) }]),
  { freq: 8 },
);

const metadataArb: fc.Arbitrary<Metadata> = fc
  .tuple(fc.dictionary(textArb, fc.array(textArb, { maxLength: 3 }), { maxKeys: 4 }), unknownArb, unknownArb)
  .map(([md, unknown, valuesUnknown]) => {
    const message = create(MetadataSchema, { md: Object.fromEntries(Object.entries(md).map(([k, val]) => [k, { val }])) });
    if (unknown !== null) {
      message.$unknown = unknown;
    }
    const first = Object.values(message.md)[0];
    if (valuesUnknown !== null && first !== undefined) {
      first.$unknown = valuesUnknown;
    }
    return message;
  });

const statusArb = fc.option(
  fc.tuple(fc.integer({ min: -3, max: 20 }), textArb, fc.boolean()).map(([code, message, withDetails]) =>
    create(StatusSchema, {
      code,
      message,
      details: withDetails ? [create(AnySchema, { typeUrl: "type.googleapis.com/x", value: new Uint8Array([8, 1]) })] : [],
    }),
  ),
  { nil: undefined },
);

/** The bytes, or the error (toBinary refuses values out of range; the fast path leaves those to it). */
function outcome(encode: () => Uint8Array): string {
  try {
    return Buffer.from(encode()).toString("hex");
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

function same(actual: () => Uint8Array, expected: () => Uint8Array): void {
  expect(outcome(actual)).toBe(outcome(expected));
}

describe("property: fast control frame encoding equals protobuf-es", () => {
  it("new_stream, half_close and cancel", () => {
    fc.assert(
      fc.property(
        idArb,
        textArb,
        fc.option(metadataArb, { nil: undefined }),
        uintArb,
        uintArb,
        (id, methodName, requestHeaders, window, revision) => {
          const newStream = create(ClientToServerSchema, {
            streamId: id,
            frame: {
              case: "newStream",
              value: create(NewStreamSchema, { methodName, requestHeaders, initialWindowSize: window >>> 0, protocolRevision: revision }),
            },
          });
          same(
            () => encodeClientToServer(newStream),
            () => toBinary(ClientToServerSchema, newStream),
          );
          for (const frame of [clientFrames.halfClose(id), clientFrames.cancel(id)]) {
            same(
              () => encodeClientToServer(frame),
              () => toBinary(ClientToServerSchema, frame),
            );
          }
        },
      ),
      fuzzParameters(1000),
    );
  });

  it("response headers and close_stream", () => {
    fc.assert(
      fc.property(idArb, metadataArb, fc.option(metadataArb, { nil: undefined }), statusArb, (id, headers, trailers, status) => {
        const headerFrame = serverFrames.headers(id, headers);
        same(
          () => encodeServerToClient(headerFrame),
          () => toBinary(ServerToClientSchema, headerFrame),
        );
        const close = create(ServerToClientSchema, {
          streamId: id,
          frame: { case: "closeStream", value: create(CloseStreamSchema, { responseTrailers: trailers, status }) },
        });
        same(
          () => encodeServerToClient(close),
          () => toBinary(ServerToClientSchema, close),
        );
      }),
      fuzzParameters(1000),
    );
  });

  it("the frames the runtime sends, with grpc-js metadata (binary values included)", () => {
    const none = metadataToProto(undefined);
    const grpcMd = new GrpcMetadata();
    grpcMd.add("x-caller", "tester");
    grpcMd.add("x-caller", "second");
    grpcMd.add("grpctunnel-relay-key-bin", Buffer.from("agent-7", "utf8"));
    const md = metadataToProto(grpcMd);
    const frames = [
      serverFrames.headers(7n, none),
      serverFrames.headers(7n, md),
      serverFrames.close(7n, none, undefined),
      serverFrames.close(2n ** 40n, md, create(StatusSchema, { code: 14, message: "ünavailable" })),
      clientFrames.newStream(9n, "/pkg.Service/Method", md, 65_536, 1),
      clientFrames.newStream(300n, "/pkg.Service/Method", none, 0, 0),
    ];
    for (const frame of frames) {
      if (frame.$typeName === "grpctunnel.v1.ServerToClient") {
        expect(encodeServerControl(frame)).toBeDefined(); // the fast path takes them
        same(
          () => encodeServerToClient(frame),
          () => toBinary(ServerToClientSchema, frame),
        );
      } else {
        expect(encodeClientControl(frame)).toBeDefined();
        same(
          () => encodeClientToServer(frame),
          () => toBinary(ClientToServerSchema, frame),
        );
      }
    }
    // An Empty with unknown fields keeps them (toBinary writes them).
    const empty = create(EmptySchema);
    empty.$unknown = [{ no: 3, wireType: WireType.Varint, data: new Uint8Array([5]) }];
    const halfClose = create(ClientToServerSchema, { streamId: 3n, frame: { case: "halfClose", value: empty } });
    same(
      () => encodeClientToServer(halfClose),
      () => toBinary(ClientToServerSchema, halfClose),
    );
  });
});

/** A decoder's outcome: the frame, or the error message (malformed input throws as fromBinary does). */
function decoded<T>(decode: () => T): T | { error: string } {
  try {
    return decode();
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const clientFrameArb = fc
  .tuple(idArb, textArb, fc.option(metadataArb, { nil: undefined }), uintArb, uintArb, fc.integer({ min: 0, max: 2 }))
  .map(([id, methodName, requestHeaders, window, revision, kind]) =>
    kind === 0
      ? create(ClientToServerSchema, {
          streamId: id,
          frame: {
            case: "newStream",
            value: create(NewStreamSchema, {
              methodName,
              requestHeaders,
              initialWindowSize: window >>> 0,
              protocolRevision: revision >>> 0,
            }),
          },
        })
      : kind === 1
        ? clientFrames.halfClose(id)
        : clientFrames.cancel(id),
  );

const serverFrameArb = fc
  .tuple(idArb, metadataArb, fc.option(metadataArb, { nil: undefined }), statusArb, fc.boolean())
  .map(([id, headers, trailers, status, isHeaders]) =>
    isHeaders
      ? serverFrames.headers(id, headers)
      : create(ServerToClientSchema, {
          streamId: id,
          frame: { case: "closeStream", value: create(CloseStreamSchema, { responseTrailers: trailers, status }) },
        }),
  );

/**
 * What a tunnel server ends up with: the frame with its request headers
 * decoded when asked for (deferred), or undefined if either step throws.
 */
function decodedDeferring(bytes: Uint8Array): unknown {
  try {
    const frame = decodeClientToServerDeferringHeaders(bytes);
    if (frame.frame.case !== "newStream") {
      return frame;
    }
    const { headersView: _, ...value } = frame.frame.value as DeferredNewStream;
    const requestHeaders = requestHeadersOf(frame.frame.value);
    return { ...frame, frame: { case: "newStream", value: requestHeaders === undefined ? value : { ...value, requestHeaders } } };
  } catch {
    return undefined;
  }
}

function decodedOrUndefined(bytes: Uint8Array): unknown {
  try {
    return fromBinary(ClientToServerSchema, bytes);
  } catch {
    return undefined;
  }
}

/** Encodes, or undefined where toBinary refuses the frame's values. */
function bytesOf(encode: () => Uint8Array): Uint8Array | undefined {
  try {
    return encode();
  } catch {
    return undefined;
  }
}

describe("property: fast control frame decoding equals protobuf-es", () => {
  it("control frames in their canonical encoding", () => {
    fc.assert(
      fc.property(clientFrameArb, serverFrameArb, (client, server) => {
        const c = bytesOf(() => toBinary(ClientToServerSchema, client));
        if (c !== undefined) {
          expect(decodeClientToServer(c)).toEqual(fromBinary(ClientToServerSchema, c));
          expect(decodedDeferring(c)).toEqual(fromBinary(ClientToServerSchema, c));
        }
        const s = bytesOf(() => toBinary(ServerToClientSchema, server));
        if (s !== undefined) {
          expect(decodeServerToClient(s)).toEqual(fromBinary(ServerToClientSchema, s));
        }
      }),
      fuzzParameters(1000),
    );
  });

  it("control frames with bytes changed, cut or added decode (or fail) exactly as with fromBinary", () => {
    const mutatedArb = fc
      .tuple(fc.oneof(clientFrameArb, serverFrameArb), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }))
      .map(([frame, at, byte, how]) => {
        const bytes = bytesOf(() =>
          frame.$typeName === "grpctunnel.v1.ClientToServer"
            ? toBinary(ClientToServerSchema, frame)
            : toBinary(ServerToClientSchema, frame),
        );
        const out = [...(bytes ?? [8, 1])];
        const i = at % out.length;
        if (how === 0) {
          out[i] = byte;
        } else if (how === 1) {
          out.length = i;
        } else if (how === 2) {
          out.splice(i, 0, byte);
        } else {
          out.push(byte);
        }
        return Uint8Array.from(out);
      });
    fc.assert(
      fc.property(mutatedArb, (bytes) => {
        expect(decoded(() => decodeClientToServer(bytes))).toEqual(decoded(() => fromBinary(ClientToServerSchema, bytes)));
        // Deferred: the same frame once its headers are decoded, and a failure where fromBinary fails.
        expect(decodedDeferring(bytes)).toEqual(decodedOrUndefined(bytes));
        expect(decoded(() => decodeServerToClient(bytes))).toEqual(decoded(() => fromBinary(ServerToClientSchema, bytes)));
      }),
      fuzzParameters(3000),
    );
  });

  it("the frames the runtime sends take the fast path", () => {
    const grpcMd = new GrpcMetadata();
    grpcMd.add("x-caller", "tester");
    grpcMd.add("grpctunnel-relay-key-bin", Buffer.from("agent-7", "utf8"));
    const md = metadataToProto(grpcMd);
    const c = [clientFrames.newStream(9n, "/pkg.Service/Method", md, 65_536, 1), clientFrames.halfClose(9n), clientFrames.cancel(9n)];
    for (const frame of c) {
      const bytes = toBinary(ClientToServerSchema, frame);
      expect(decodeClientControl(bytes)).toEqual(fromBinary(ClientToServerSchema, bytes));
    }
    const s = [serverFrames.headers(9n, md), serverFrames.close(9n, md, create(StatusSchema, { code: 5, message: "not found" }))];
    for (const frame of s) {
      const bytes = toBinary(ServerToClientSchema, frame);
      expect(decodeServerControl(bytes)).toEqual(fromBinary(ServerToClientSchema, bytes));
    }
  });
});

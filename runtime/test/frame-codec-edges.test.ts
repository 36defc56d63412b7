// The hand-written frame codecs at their edges: values outside the fast
// paths (which must give protobuf-es's bytes, or its error), frames in a
// non-canonical encoding (which must decode as fromBinary decodes them),
// the caller's buffer and a message's headroom (which the encoder writes
// into), and the deferred request headers of a new_stream.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import {
  ClientToServerSchema,
  CloseStreamSchema,
  MetadataSchema,
  NewStreamSchema,
  ServerToClientSchema,
  type ClientToServer,
  type ServerToClient,
} from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { type DeferredNewStream, requestHeadersOf } from "../src/protocol/control-frame-decode.js";
import {
  dataFrameBound,
  decodeClientToServer,
  decodeClientToServerDeferringHeaders,
  decodeServerToClient,
  encodeClientToServer,
  encodeServerToClient,
} from "../src/protocol/frame-codec.js";
import { allocWithHeadroom, FRAME_HEADROOM } from "../src/protocol/headroom.js";
import { c2s, s2c } from "./support/frames.js";

/** The bytes in hex, or the error: what an encoder gives for a frame. */
function outcome(encode: () => Uint8Array): string {
  try {
    return Buffer.from(encode()).toString("hex");
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

function sameAsProtobufClient(frame: ClientToServer): void {
  expect(outcome(() => encodeClientToServer(frame))).toBe(outcome(() => toBinary(ClientToServerSchema, frame)));
}

function sameAsProtobufServer(frame: ServerToClient): void {
  expect(outcome(() => encodeServerToClient(frame))).toBe(outcome(() => toBinary(ServerToClientSchema, frame)));
}

/** A decoder's frame, or its error. */
function decoded<T>(decode: () => T): T | { error: string } {
  try {
    return decode();
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function decodesAsProtobuf(hex: string): void {
  const bytes = new Uint8Array(Buffer.from(hex.replaceAll(" ", ""), "hex"));
  expect(decoded(() => decodeClientToServer(bytes))).toEqual(decoded(() => fromBinary(ClientToServerSchema, bytes)));
  expect(decoded(() => decodeServerToClient(bytes))).toEqual(decoded(() => fromBinary(ServerToClientSchema, bytes)));
}

const data = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

describe("data frames: where they are encoded", () => {
  const frames = [c2s.message(5n, 40, data(40)), c2s.more(5n, data(40))] as const;

  it("into the caller's buffer when the frame fits it, exactly or with room to spare", () => {
    for (const frame of frames) {
      const expected = Buffer.from(toBinary(ClientToServerSchema, frame));
      for (const room of [0, 1, 100]) {
        const into = Buffer.alloc(expected.length + room);
        const out = encodeClientToServer(frame, into);
        expect(out).toEqual(expected);
        expect(out.buffer).toBe(into.buffer); // a view of the caller's buffer
        expect(out.byteOffset).toBe(into.byteOffset);
      }
    }
    const response = s2c.message(9n, 3, data(3));
    const into = Buffer.alloc(64);
    const out = encodeServerToClient(response, into);
    expect(out).toEqual(Buffer.from(toBinary(ServerToClientSchema, response)));
    expect(out.buffer).toBe(into.buffer);
  });

  it("into a buffer of its own when the caller's is one byte short, which it leaves alone", () => {
    for (const frame of frames) {
      const expected = Buffer.from(toBinary(ClientToServerSchema, frame));
      const into = Buffer.alloc(expected.length - 1, 0xee);
      const out = encodeClientToServer(frame, into);
      expect(out).toEqual(expected);
      expect(out.buffer).not.toBe(into.buffer);
      expect(into.every((byte) => byte === 0xee)).toBe(true);
    }
  });

  it("in place in front of a message's headroom, once; a second encoding copies", () => {
    const payload = allocWithHeadroom(50);
    payload.set(data(50));
    const frame = s2c.message(2n ** 40n, 50, payload);
    const expected = Buffer.from(toBinary(ServerToClientSchema, frame));
    const first = encodeServerToClient(frame);
    expect(first).toEqual(expected);
    expect(first.buffer).toBe(payload.buffer); // no copy: the header went into the headroom
    expect(first.byteOffset + first.length).toBe(payload.byteOffset + payload.length);
    const second = encodeServerToClient(frame);
    expect(second).toEqual(expected);
    second.fill(0); // its own bytes: the first frame (handed to the transport) is not written again
    expect(first).toEqual(expected);
  });

  it("a bound of the header plus the data for each data frame, none for data with headroom or other frames", () => {
    for (const frame of [c2s.message(1n, 7, data(7)), c2s.more(1n, data(7)), s2c.message(1n, 7, data(7)), s2c.more(1n, data(7))]) {
      expect(dataFrameBound(frame)).toBe(FRAME_HEADROOM + 7);
    }
    expect(dataFrameBound(s2c.more(1n, allocWithHeadroom(7)))).toBe(0);
    expect(dataFrameBound(c2s.windowUpdate(1n, 7))).toBe(0);
    expect(dataFrameBound(c2s.halfClose(1n))).toBe(0);
  });
});

describe("values outside the fast paths encode as protobuf-es encodes them (or fail as it fails)", () => {
  it("window updates of any credit", () => {
    for (const credit of [0, 1, 0xffff_ffff, 2 ** 32, -1, 1.5, Number.NaN]) {
      sameAsProtobufClient(c2s.windowUpdate(3n, credit));
      sameAsProtobufServer(create(ServerToClientSchema, { streamId: 3n, frame: { case: "windowUpdate", value: credit } }));
    }
  });

  it("message data with unknown fields keeps them", () => {
    const frame = c2s.message(4n, 3, data(3));
    if (frame.frame.case === "requestMessage") {
      frame.frame.value.$unknown = [{ no: 9, wireType: WireType.Varint, data: new Uint8Array([1]) }];
    }
    sameAsProtobufClient(frame);
  });

  it("new_stream with any initial window, a revision without a window, and unknown fields", () => {
    const newStream = (init: { initialWindowSize: number; protocolRevision: number }) =>
      create(ClientToServerSchema, {
        streamId: 7n,
        frame: { case: "newStream", value: create(NewStreamSchema, { methodName: "/s/M", ...init }) },
      });
    for (const initialWindowSize of [0, 1, 0xffff_ffff, 2 ** 32, -1, 1.5]) {
      sameAsProtobufClient(newStream({ initialWindowSize, protocolRevision: 1 }));
    }
    const withUnknown = newStream({ initialWindowSize: 10, protocolRevision: 1 });
    if (withUnknown.frame.case === "newStream") {
      withUnknown.frame.value.$unknown = [{ no: 12, wireType: WireType.Varint, data: new Uint8Array([3]) }];
    }
    sameAsProtobufClient(withUnknown);
  });

  it("close_stream with unknown fields, and with message fields set to undefined", () => {
    const close = create(CloseStreamSchema, { status: create(StatusSchema, { code: 5, message: "x" }) });
    close.$unknown = [{ no: 8, wireType: WireType.Varint, data: new Uint8Array([2]) }];
    sameAsProtobufServer(create(ServerToClientSchema, { streamId: 2n, frame: { case: "closeStream", value: close } }));

    // A literal may spell an absent field as `undefined`: it is left out, as toBinary leaves it out.
    const literal = {
      $typeName: "grpctunnel.v1.ServerToClient",
      streamId: 2n,
      frame: {
        case: "closeStream",
        value: { $typeName: "grpctunnel.v1.CloseStream", responseTrailers: undefined, status: undefined },
      },
    } as ServerToClient;
    sameAsProtobufServer(literal);
    const newStream = {
      $typeName: "grpctunnel.v1.ClientToServer",
      streamId: 2n,
      frame: {
        case: "newStream",
        value: {
          $typeName: "grpctunnel.v1.NewStream",
          methodName: "/s/M",
          requestHeaders: undefined,
          initialWindowSize: 5,
          protocolRevision: 1,
        },
      },
    } as ClientToServer;
    sameAsProtobufClient(newStream);
  });
});

describe("data frames in a non-canonical encoding decode as fromBinary decodes them", () => {
  it("a window update or message size beyond uint32 (5-byte varints)", () => {
    decodesAsProtobuf("08 01 38 80 80 80 80 10"); // window_update 2^32
    decodesAsProtobuf("08 01 38 ff ff ff ff 0f"); // window_update 2^32 - 1
    decodesAsProtobuf("08 01 1a 08 08 80 80 80 80 10 12 00"); // size 2^32, empty data
    decodesAsProtobuf("08 01 1a 06 08 ff ff ff ff 0f"); // size 2^32 - 1
  });

  it("message data without a size, whose bytes look like fields", () => {
    decodesAsProtobuf("08 01 1a 04 12 02 12 00");
    decodesAsProtobuf("08 01 1a 04 12 02 08 05");
  });

  it("message data with an unknown field, or its fields out of order", () => {
    decodesAsProtobuf("08 01 1a 04 08 05 2a 00"); // size, then field 5
    decodesAsProtobuf("08 01 1a 05 12 01 aa 08 05"); // data, then size
    decodesAsProtobuf("08 01 1a 06 08 05 12 01 aa bb"); // data shorter than what follows it
  });

  it("data and window updates with trailing bytes", () => {
    decodesAsProtobuf("08 01 22 01 aa 38 05");
    decodesAsProtobuf("08 01 38 05 22 01 aa");
  });
});

describe("control frames in a non-canonical encoding decode as fromBinary decodes them", () => {
  it("varints beyond their field's range, or longer than 5 bytes", () => {
    decodesAsProtobuf("08 01 12 06 18 80 80 80 80 10"); // new_stream, initial window 2^32
    decodesAsProtobuf("08 01 12 07 18 80 80 80 80 80 20 01"); // a 6-byte varint
    decodesAsProtobuf("08 01 12 02 20 80"); // a varint cut short
    decodesAsProtobuf("08 01 2a 08 12 06 08 80 80 80 80 08"); // close_stream, status code 2^31
  });

  it("text that is not ASCII", () => {
    decodesAsProtobuf("08 01 12 03 0a 01 80");
    decodesAsProtobuf("08 01 12 03 0a 01 7f");
    decodesAsProtobuf("08 01 2a 06 12 04 12 02 61 80");
  });

  it("metadata whose parts run past the message they are in", () => {
    decodesAsProtobuf("08 01 12 0c 0a 07 0a 01 61 12 02 0a 03 62 63 64"); // a value past its entry
    decodesAsProtobuf("08 01 12 06 0a 04 0a 05 61 62"); // a key past its entry
  });

  it("metadata with a key twice, then more fields (the later entry wins)", () => {
    const twice = "0a 05 0a 01 61 12 00 0a 03 0a 01 61";
    decodesAsProtobuf(`08 01 12 10 12 0c ${twice} 18 05`); // new_stream: headers, window
    decodesAsProtobuf(`08 01 2a 0e 0a 0c ${twice}`); // close_stream: trailers
    decodesAsProtobuf(`08 01 12 0c ${twice}`); // response headers
  });

  it("metadata with fields other than its entries, and values with fields other than val", () => {
    decodesAsProtobuf("08 01 12 07 12 05 0a 01 61 12 00");
    decodesAsProtobuf("08 01 12 0a 0a 08 0a 01 61 12 03 12 01 62");
  });

  it("metadata keys that are special to JavaScript objects, or empty", () => {
    const key = (name: string) => Buffer.from(name, "latin1").toString("hex");
    for (const name of ["__proto__", "constructor", "toString", ""]) {
      const k = key(name);
      const entry = `0a ${(2 + name.length + 5).toString(16).padStart(2, "0")} 0a ${name.length.toString(16).padStart(2, "0")} ${k} 12 03 0a 01 76`;
      const metadata = `${entry}`;
      const size = metadata.replaceAll(" ", "").length / 2;
      decodesAsProtobuf(`08 01 12 ${size.toString(16).padStart(2, "0")} ${metadata}`);
    }
  });

  it("fields numbered 0 where fields were expected", () => {
    decodesAsProtobuf("08 01 2a 04 00 02 00 00");
    decodesAsProtobuf("08 01 12 04 00 02 00 00");
  });

  it("a status with details, or with a field after it", () => {
    decodesAsProtobuf("08 01 2a 06 12 04 08 05 1a 00");
    decodesAsProtobuf("08 01 2a 06 12 02 08 05 18 01");
  });
});

describe("a new_stream's request headers", () => {
  const md = create(MetadataSchema, { md: { "x-a": { val: ["1", "2"] }, "x-b": { val: [] } } });
  const frame = create(ClientToServerSchema, {
    streamId: 11n,
    frame: { case: "newStream", value: create(NewStreamSchema, { methodName: "/s/M", requestHeaders: md, initialWindowSize: 9 }) },
  });
  const bytes = toBinary(ClientToServerSchema, frame);

  it("are left undecoded by the tunnel server's decoder, a view of the frame, until asked for", () => {
    const decoded = decodeClientToServerDeferringHeaders(bytes);
    expect(decoded.frame.case).toBe("newStream");
    const init = decoded.frame.value as DeferredNewStream;
    expect(init.requestHeaders).toBeUndefined();
    expect(init.headersView).toBeDefined();
    expect(init.headersView!.buffer).toBe(bytes.buffer);
    expect(requestHeadersOf(init)).toEqual(md);
    // The rest of the new_stream is decoded as fromBinary decodes it.
    const { headersView: _, ...rest } = init;
    expect({ ...rest, requestHeaders: md }).toEqual(fromBinary(ClientToServerSchema, bytes).frame.value);
  });

  it("are decoded at once by the plain decoder", () => {
    const init = decodeClientToServer(bytes).frame.value as DeferredNewStream;
    expect(init.headersView).toBeUndefined();
    expect(init.requestHeaders).toEqual(md);
    expect(requestHeadersOf(init)).toEqual(md);
  });
});

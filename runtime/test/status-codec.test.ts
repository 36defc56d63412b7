// The CloseStream.status a call's outcome goes out as, and the bounds on a
// status that comes in from a peer (message length, number and bytes of
// details) with the exact note of what was cut.
import { create } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import {
  errorFromStatus,
  MAX_STATUS_DETAILS,
  MAX_STATUS_DETAILS_BYTES,
  MAX_STATUS_MESSAGE_CHARS,
  statusToProto,
} from "../src/protocol/status-codec.js";
import { truncated } from "../src/protocol/truncated.js";

/** A detail whose type URL and value take `bytes` bytes together. */
function detail(bytes: number, typeUrl = "t"): Any {
  return create(AnySchema, { typeUrl, value: new Uint8Array(bytes - typeUrl.length) });
}

function fromPeer(message: string, details: Any[] = [], code: number = Code.ABORTED): TunnelError {
  const error = errorFromStatus(create(StatusSchema, { code, message, details }), new Metadata());
  expect(error).toBeDefined();
  return error!;
}

describe("statusToProto: the status a call's outcome is sent as", () => {
  it("sends no status for success, also for an error object that says OK", () => {
    expect(statusToProto(undefined)).toBeUndefined();
    expect(statusToProto(new TunnelError(Code.OK, "fine"))).toBeUndefined();
  });

  it("sends code, raw message and details; a code outside 0–16 as UNKNOWN", () => {
    const any = detail(10);
    const status = statusToProto(new TunnelError(Code.NOT_FOUND, "no such row", { details: [any] }));
    expect(status).toMatchObject({ code: Code.NOT_FOUND, message: "no such row" });
    expect(status!.details).toEqual([any]);
    expect(statusToProto(new TunnelError(17 as Code, "odd"))!.code).toBe(Code.UNKNOWN);
    expect(statusToProto(new TunnelError(-1 as Code, "odd"))!.code).toBe(Code.UNKNOWN);
  });

  it("leaves out details that are not google.protobuf.Any messages, keeping the rest in order", () => {
    const first = detail(5);
    const last = detail(7);
    const notAny = [
      undefined,
      null,
      "type.googleapis.com/x",
      42,
      { typeUrl: "type.googleapis.com/x", value: new Uint8Array([1]) }, // no $typeName
      { $typeName: "google.protobuf.Any", typeUrl: 7, value: new Uint8Array([1]) },
      { $typeName: "google.protobuf.Any", typeUrl: "type.googleapis.com/x", value: [1] },
      { $typeName: "google.protobuf.Empty", typeUrl: "type.googleapis.com/x", value: new Uint8Array([1]) },
    ] as unknown as Any[];
    const status = statusToProto(new TunnelError(Code.INTERNAL, "x", { details: [first, ...notAny, last] }));
    expect(status!.details).toEqual([first, last]);
  });
});

describe("errorFromStatus: a status from a peer, bounded", () => {
  it("is no error when absent or OK, whatever else the status carries", () => {
    expect(errorFromStatus(undefined, new Metadata())).toBeUndefined();
    const ok = create(StatusSchema, { code: Code.OK, message: "ignored", details: [detail(3)] });
    expect(errorFromStatus(ok, new Metadata())).toBeUndefined();
  });

  it("keeps code, message, details and trailers; a code outside 0–16 is UNKNOWN", () => {
    const trailers = new Metadata();
    trailers.set("x-why", "because");
    const any = detail(9);
    const error = errorFromStatus(create(StatusSchema, { code: Code.NOT_FOUND, message: "gone", details: [any] }), trailers)!;
    expect(error.code).toBe(Code.NOT_FOUND);
    expect(error.rawMessage).toBe("gone");
    expect(error.details).toEqual([any]);
    expect(error.metadata).toBe(trailers);
    expect(fromPeer("m", [], 99).code).toBe(Code.UNKNOWN);
  });

  it("passes a message of exactly the bound unchanged", () => {
    const message = "a".repeat(MAX_STATUS_MESSAGE_CHARS);
    expect(fromPeer(message).rawMessage).toBe(message);
  });

  it("truncates a longer message to the bound, saying from how many characters", () => {
    const error = fromPeer("b".repeat(MAX_STATUS_MESSAGE_CHARS + 1));
    const note = ` [message truncated from ${MAX_STATUS_MESSAGE_CHARS + 1} characters]`;
    expect(error.rawMessage).toBe("b".repeat(MAX_STATUS_MESSAGE_CHARS - note.length) + note);
    expect(error.rawMessage).toHaveLength(MAX_STATUS_MESSAGE_CHARS);
  });

  it("keeps the first 64 details and says how many were left out", () => {
    const details = Array.from({ length: MAX_STATUS_DETAILS + 3 }, (_, i) => detail(4 + i));
    const error = fromPeer("too many", details);
    expect(error.details).toEqual(details.slice(0, MAX_STATUS_DETAILS));
    expect(error.rawMessage).toBe(`too many [3 of ${MAX_STATUS_DETAILS + 3} status details left out]`);
    expect(fromPeer("just so", details.slice(0, MAX_STATUS_DETAILS)).rawMessage).toBe("just so");
  });

  it("keeps details up to exactly 64 KiB of type URLs and values, and not one byte more", () => {
    const half = MAX_STATUS_DETAILS_BYTES / 2;
    const exact = [detail(half, "type.googleapis.com/a"), detail(half, "type.googleapis.com/b")];
    const kept = fromPeer("fits", exact);
    expect(kept.details).toHaveLength(2);
    expect(kept.rawMessage).toBe("fits");

    // The type URL counts: one more byte of it puts the second detail over.
    const over = [detail(half, "type.googleapis.com/a"), detail(half + 1, "type.googleapis.com/bb"), detail(1)];
    const cut = fromPeer("over", over);
    expect(cut.details).toEqual([over[0]]);
    expect(cut.rawMessage).toBe("over [2 of 3 status details left out]");
  });

  it("a single detail over the byte bound leaves none", () => {
    const error = fromPeer("big", [detail(MAX_STATUS_DETAILS_BYTES + 1)]);
    expect(error.details).toEqual([]);
    expect(error.rawMessage).toBe("big [1 of 1 status details left out]");
  });

  it("fits both notes within the bound when a message near it also lost details", () => {
    // The message alone is within the bound; with the details note it is not.
    const message = "c".repeat(MAX_STATUS_MESSAGE_CHARS - 5);
    const details = Array.from({ length: MAX_STATUS_DETAILS + 1 }, () => detail(2));
    const error = fromPeer(message, details);
    const detailsNote = ` [1 of ${MAX_STATUS_DETAILS + 1} status details left out]`;
    const note = ` [message truncated from ${message.length} characters]${detailsNote}`;
    expect(error.rawMessage).toBe("c".repeat(MAX_STATUS_MESSAGE_CHARS - note.length) + note);
    expect(error.rawMessage).toHaveLength(MAX_STATUS_MESSAGE_CHARS);
    expect(error.details).toHaveLength(MAX_STATUS_DETAILS);

    // A message that fits with the details note exactly is not truncated.
    const fitting = "d".repeat(MAX_STATUS_MESSAGE_CHARS - detailsNote.length);
    expect(fromPeer(fitting, details).rawMessage).toBe(fitting + detailsNote);
  });

  it("is what the next hop passes on unchanged: bounding twice changes nothing", () => {
    const details = Array.from({ length: MAX_STATUS_DETAILS + 9 }, () => detail(100));
    const once = fromPeer("e".repeat(3 * MAX_STATUS_MESSAGE_CHARS), details);
    const twice = fromPeer(once.rawMessage, [...once.details]);
    expect(twice.rawMessage).toBe(once.rawMessage);
    expect(twice.details).toEqual(once.details);
  });
});

describe("truncated: peer text echoed in a status", () => {
  it("keeps text of at most the bound whole, and cuts longer text saying its length", () => {
    expect(truncated("abc", 3)).toBe("abc");
    expect(truncated("abcd", 3)).toBe("abc… (4 characters)");
    expect(truncated("x".repeat(100))).toBe("x".repeat(100));
    expect(truncated("x".repeat(101))).toBe(`${"x".repeat(100)}… (101 characters)`);
  });
});

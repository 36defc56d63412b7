import { create, toBinary } from "@bufbuild/protobuf";
import { grpcMethodDefinition, MessageSchema, TestService } from "@protoc-gen-tunnel/interop";
import { describe, expect, it } from "vitest";
import { CONTROL_PATH_PREFIX, controlMethodDefinition } from "../src/control-service.js";

// The bulk-streaming workloads' control is direct grpc-js given the
// runtime's serializer: check that it really is the runtime's (not
// toBinary), writes the same bytes, and has paths of its own.
describe("controlMethodDefinition", () => {
  const method = TestService.method.clientStream;
  const control = controlMethodDefinition(method);
  const plain = grpcMethodDefinition(method);

  it("serves the method under the control's path prefix", () => {
    expect(control.path).toBe(`${CONTROL_PATH_PREFIX}${plain.path}`);
    expect(control.requestStream).toBe(true);
    expect(control.responseStream).toBe(false);
  });

  it("serializes a large bytes field with the runtime's encoder, to the bytes toBinary writes", () => {
    const message = { payload: new Uint8Array(64 * 1024).fill(0x5a), count: 7 };
    const bytes = control.requestSerialize(message);
    expect(new Uint8Array(bytes)).toEqual(toBinary(MessageSchema, create(MessageSchema, message)));
    // toBinary returns a buffer of its own; the runtime's encoder leaves room in front for a frame header.
    expect(plain.requestSerialize(message).byteOffset).toBe(0);
    expect(bytes.byteOffset).toBeGreaterThan(0);
  });

  it("serializes small messages as toBinary does", () => {
    const response = { count: 3 };
    expect(new Uint8Array(control.responseSerialize(response))).toEqual(new Uint8Array(plain.responseSerialize(response)));
    expect(control.responseDeserialize(control.responseSerialize(response))).toMatchObject(response);
  });
});

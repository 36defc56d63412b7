// The google.rpc error details exported as "@protoc-gen-tunnel/runtime/errordetails":
// their wire format and type URLs match googleapis' error_details.proto, and
// they travel in a tunneled status to TunnelError.findDetails and to
// Connect's ConnectError.findDetails.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient } from "@connectrpc/connect";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  QuotaFailureSchema,
  RetryInfoSchema,
  type BadRequest,
} from "@protoc-gen-tunnel/runtime/errordetails";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { tunnelTransport } from "../src/connect.js";
import { Code, TunnelError, unaryCall } from "../src/index.js";
import { outcome } from "./support/events.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("google.rpc error details", () => {
  it("encode with googleapis' field numbers and type URLs", () => {
    const info = create(ErrorInfoSchema, { reason: "R", domain: "d", metadata: { k: "v" } });
    // reason = 1, domain = 2, metadata = 3 (a map entry: key = 1, value = 2)
    expect(hex(toBinary(ErrorInfoSchema, info))).toBe("0a0152120164" + "1a06" + "0a016b120176");
    const retry = create(RetryInfoSchema, { retryDelay: create(DurationSchema, { seconds: 2n }) });
    expect(hex(toBinary(RetryInfoSchema, retry))).toBe("0a020802");
    const bad = create(BadRequestSchema, {
      fieldViolations: [{ field: "f", description: "x", reason: "E", localizedMessage: { locale: "en", message: "m" } }],
    });
    // field_violations = 1 { field = 1, description = 2, reason = 3, localized_message = 4 { locale = 1, message = 2 } }
    expect(hex(toBinary(BadRequestSchema, bad))).toBe("0a12" + "0a0166" + "120178" + "1a0145" + "2207" + "0a02656e12016d");
    const quota = create(QuotaFailureSchema, { violations: [{ quotaValue: 5n, futureQuotaValue: 0n }] });
    // quota_value = 7 (int64), future_quota_value = 8 (proto3 optional: 0 is sent)
    expect(hex(toBinary(QuotaFailureSchema, quota))).toBe("0a04" + "3805" + "4000");
    expect(fromBinary(QuotaFailureSchema, toBinary(QuotaFailureSchema, quota)).violations[0]?.futureQuotaValue).toBe(0n);

    expect(anyPack(ErrorInfoSchema, info).typeUrl).toBe("type.googleapis.com/google.rpc.ErrorInfo");
    expect(anyPack(BadRequestSchema, bad).typeUrl).toBe("type.googleapis.com/google.rpc.BadRequest");
  });

  it("travel from a handler's TunnelError to TunnelError.findDetails and ConnectError.findDetails", async () => {
    const badRequest = create(BadRequestSchema, { fieldViolations: [{ field: "payload", description: "must not be empty" }] });
    const errorInfo = create(ErrorInfoSchema, { reason: "EMPTY_PAYLOAD", domain: "test.example", metadata: { limit: "1" } });
    const { tunnel } = await forwardFixture(cleanup, {
      impl: {
        unary: () => {
          throw new TunnelError(Code.INVALID_ARGUMENT, "bad payload", {
            details: [anyPack(BadRequestSchema, badRequest), anyPack(ErrorInfoSchema, errorInfo)],
          });
        },
      },
    });

    const result = await outcome(unaryCall(tunnel, TestService.method.unary, {}));
    expect(result.ok).toBe(false);
    const error = (result as { error: unknown }).error;
    expect(error).toBeInstanceOf(TunnelError);
    const tunnelError = error as TunnelError;
    expect(tunnelError.code).toBe(Code.INVALID_ARGUMENT);
    const found: BadRequest[] = tunnelError.findDetails(BadRequestSchema);
    expect(found.map((d) => d.fieldViolations.map((v) => [v.field, v.description]))).toEqual([[["payload", "must not be empty"]]]);
    expect(tunnelError.findDetails(ErrorInfoSchema).map((d) => [d.reason, d.domain, d.metadata])).toEqual([
      ["EMPTY_PAYLOAD", "test.example", { limit: "1" }],
    ]);
    expect(tunnelError.findDetails(RetryInfoSchema)).toEqual([]);

    const connect = createClient(TestService, tunnelTransport(tunnel));
    const connectResult = await outcome(connect.unary({}));
    const connectError = (connectResult as { error: unknown }).error;
    expect(connectError).toBeInstanceOf(ConnectError);
    expect((connectError as ConnectError).findDetails(ErrorInfoSchema).map((d) => d.reason)).toEqual(["EMPTY_PAYLOAD"]);
    expect((connectError as ConnectError).findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("payload");
  });
});

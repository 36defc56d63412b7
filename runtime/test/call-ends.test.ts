// How a call ends, as each end's user sees it: what arrived before the
// server's close stays readable even when the close itself is bad; only a
// refusal is reported as one; and an end, once it happened, is not redone
// when the tunnel ends a moment later.
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { clientUnderTest, SERVER_STREAM } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";

describe("ClientStream: the server's close", () => {
  for (const [bad, trailers, code] of [
    ["over maxMetadataBytes", { "x-big": "v".repeat(100) }, Code.RESOURCE_EXHAUSTED],
    ["with a key grpc-js cannot represent", { "NOT VALID": "x" }, Code.INTERNAL],
  ] as const) {
    it(`trailers ${bad} fail the call after the responses that came before them were read`, async () => {
      const client = await clientUnderTest({ limits: { maxMetadataBytes: 64 } });
      const call = client.open(SERVER_STREAM);
      const response = new Uint8Array([7, 8, 9]);
      client.feed(s2c.headers(1n), s2c.message(1n, 3, response), s2c.close(1n, 0, "", trailers));
      expect(await call.read()).toEqual(response);
      await expect(call.read()).rejects.toMatchObject({ code });
      const end = await call.done;
      expect([end.error?.code, end.refused]).toEqual([code, undefined]);
      // The server ended the stream: no cancel goes back for it.
      expect(client.sentCancel(1n)).toBe(false);
      client.engine.close();
    });
  }
});

describe("ClientStream: which ends are refusals", () => {
  // A refused call (CallEnd.refused) reached no handler, so a retry layer may
  // send it again as if it never went out; any other end must not say so.
  it("a refusal before any response is one; a cancel, the tunnel's end or a failure after a response is not", async () => {
    const client = await clientUnderTest();
    const refusedCall = client.open();
    client.feed(s2c.close(1n, Code.UNAVAILABLE, "go elsewhere"));
    expect((await refusedCall.done).refused).toBe(true);

    const cancelled = client.open();
    cancelled.cancel();
    expect((await cancelled.done).refused).toBeUndefined();

    const answered = client.open(SERVER_STREAM);
    client.feed(s2c.message(answered.id, 1, new Uint8Array([1])), s2c.close(answered.id, Code.UNAVAILABLE, "went away"));
    expect(await answered.done).toMatchObject({ error: { code: Code.UNAVAILABLE } });
    expect((await answered.done).refused).toBeUndefined();

    const running = client.open();
    client.engine.close();
    const end = await running.done;
    expect([end.error?.code, end.refused]).toEqual([Code.CANCELLED, undefined]);
  });
});

describe("ServerStream: an end happens once", () => {
  it("a call a sibling's abort listener cancelled as the tunnel ended hears of its abort once, with that reason", () => {
    const { open, engine } = serverWithHeldCalls();
    const first = open(1n);
    const second = open(3n);
    const heard: string[] = [];
    first.whenAborted(() => second.cancel(new TunnelError(Code.ABORTED, "sibling gave up")));
    second.whenAborted((reason) => heard.push(reason.rawMessage));
    engine.close();
    expect(heard).toEqual(["sibling gave up"]);
    expect(second.endError?.rawMessage).toBe("sibling gave up");
  });
});

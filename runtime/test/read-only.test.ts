// `readOnly`: a unary call's one message read together with the end of its
// direction, in one read (one promise) instead of two, with the same
// outcomes as two reads: the message, none, a second one, or the error.
import { describe, expect, it } from "vitest";
import { Code } from "../src/code.js";
import { MemoryBudget, StreamMemory } from "../src/engine/memory-budget.js";
import { EXTRA_MESSAGE, MessageQueue } from "../src/engine/message-queue.js";
import { TunnelError } from "../src/errors.js";
import { clientUnderTest, testMessage } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";

function queue() {
  return new MessageQueue({
    what: "request",
    violationCode: Code.INVALID_ARGUMENT,
    window: undefined,
    maxMessageBytes: 1 << 20,
    maxBufferedBytes: 1 << 20,
    memory: new StreamMemory(new MemoryBudget("test", Number.POSITIVE_INFINITY)),
  });
}

/** Whether `promise` has settled after the microtasks queued so far, and how. */
async function state<T>(
  promise: Promise<T>,
): Promise<{ settled: false } | { settled: true; value: T } | { settled: true; error: unknown }> {
  let result: { settled: false } | { settled: true; value: T } | { settled: true; error: unknown } = { settled: false };
  promise.then(
    (value) => (result = { settled: true, value }),
    (error: unknown) => (result = { settled: true, error }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

const bytes = (...values: number[]) => new Uint8Array(values);

describe("MessageQueue.readOnly", () => {
  it("resolves with the one message only once the end arrived, even when the message came first", async () => {
    const q = queue();
    const read = q.readOnly();
    expect(q.envelope(3, bytes(1, 2, 3))).toBeUndefined();
    expect((await state(read)).settled).toBe(false); // the message alone is not enough
    q.end();
    expect(await read).toEqual(bytes(1, 2, 3));
  });

  it("a message in several chunks, and both already queued when it is called: resolves at once", async () => {
    const q = queue();
    q.envelope(4, bytes(1, 2));
    q.more(bytes(3, 4));
    q.end();
    expect(await q.readOnly()).toEqual(bytes(1, 2, 3, 4));
  });

  it("an empty message is a message; no message at all is undefined", async () => {
    const empty = queue();
    empty.envelope(0, bytes());
    empty.end();
    expect(await empty.readOnly()).toEqual(bytes());
    const none = queue();
    const read = none.readOnly();
    none.end();
    expect(await read).toBeUndefined();
  });

  it("a second message: EXTRA_MESSAGE as soon as it is complete, without waiting for the end", async () => {
    const q = queue();
    const read = q.readOnly();
    q.envelope(1, bytes(1));
    q.envelope(2, bytes(2));
    expect((await state(read)).settled).toBe(false); // the second is not complete yet
    q.more(bytes(3));
    expect(await state(read)).toEqual({ settled: true, value: EXTRA_MESSAGE });
  });

  it("an end with an error after the message, or a failure, rejects with it (as the second of two reads would)", async () => {
    const ended = queue();
    const read = ended.readOnly();
    ended.envelope(1, bytes(1));
    ended.end(new TunnelError(Code.ABORTED, "handler gave up"));
    await expect(read).rejects.toMatchObject({ code: Code.ABORTED });
    const failed = queue();
    const read2 = failed.readOnly();
    failed.envelope(1, bytes(1));
    failed.fail(new TunnelError(Code.CANCELLED, "call cancelled"));
    await expect(read2).rejects.toMatchObject({ code: Code.CANCELLED });
  });

  it("the peer ending in the middle of the message fails the read", async () => {
    const q = queue();
    const read = q.readOnly();
    q.envelope(10, bytes(1, 2));
    q.end();
    await expect(read).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      message: expect.stringContaining("in the middle of a message"),
    });
  });

  it("one reader at a time", async () => {
    const q = queue();
    void q.readOnly();
    await expect(q.readOnly()).rejects.toThrow(/concurrent reads/);
    await expect(q.read()).rejects.toThrow(/concurrent reads/);
  });
});

describe("a unary call's response read with its end (ClientStream.readOnly)", () => {
  it("a second response: EXTRA_MESSAGE at once, before any close", async () => {
    const client = await clientUnderTest();
    const stream = client.open();
    const read = stream.readOnly();
    const response = testMessage({ payload: bytes(7) });
    client.feed(s2c.headers(1n), s2c.message(1n, response.length, response));
    expect((await state(read)).settled).toBe(false);
    client.feed(s2c.message(1n, response.length, response));
    expect(await read).toBe(EXTRA_MESSAGE);
  });

  it("the response, once the server closed the call OK", async () => {
    const client = await clientUnderTest();
    const stream = client.open();
    const read = stream.readOnly();
    const response = testMessage({ payload: bytes(7) });
    client.feed(s2c.headers(1n), s2c.message(1n, response.length, response), s2c.close(1n));
    expect(await read).toEqual(response);
  });
});

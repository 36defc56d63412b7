// gRPC length-prefixed messages between the tunnel and Connect's handlers:
// any chunking of a body gives back the messages; broken bodies fail with a
// clear INTERNAL status instead of a wrong message.
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { envelope, unenvelope } from "../src/connect/envelope.js";
import { outcome } from "./support/events.js";

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const message of unenvelope(body)) {
    out.push(Buffer.from(message).toString());
  }
  return out;
}

async function body(...messages: string[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of envelope(chunks(...messages.map((m) => new Uint8Array(Buffer.from(m)))))) {
    parts.push(part);
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe("gRPC message framing for Connect handlers", () => {
  it("round-trips messages however the body is cut into chunks, empty messages included", async () => {
    const bytes = await body("alpha", "", "a longer third message");
    expect(bytes.byteLength).toBe(3 * 5 + 5 + 0 + 22);
    for (let cut = 0; cut <= bytes.byteLength; cut++) {
      for (const size of [1, 2, 7]) {
        const parts = [bytes.subarray(0, cut)];
        for (let i = cut; i < bytes.byteLength; i += size) {
          parts.push(bytes.subarray(i, Math.min(bytes.byteLength, i + size)));
        }
        expect(await collect(chunks(...parts))).toEqual(["alpha", "", "a longer third message"]);
      }
    }
  });

  it("refuses a compressed message, which was never negotiated", async () => {
    const bytes = await body("x");
    bytes[0] = 1;
    const result = await outcome(collect(chunks(bytes)));
    expect(result.ok || result.error).toBeInstanceOf(TunnelError);
    expect(result.ok || result.error).toMatchObject({ code: Code.INTERNAL, rawMessage: expect.stringContaining("compressed") });
  });

  it("refuses a body that ends inside a message", async () => {
    const bytes = await body("complete", "cut short");
    const result = await outcome(collect(chunks(bytes.subarray(0, bytes.byteLength - 3))));
    expect(result.ok || result.error).toMatchObject({ code: Code.INTERNAL, rawMessage: expect.stringContaining("middle of a message") });
  });
});

// What a send holds of the tunnel's memory budget: a message the transport
// takes at once is charged once (by the transport, while it holds the
// frame) — not also by the stream past the send — and nothing is left
// charged once the transport has sent it.
import { describe, expect, it } from "vitest";
import { clientUnderTest } from "./conformance/harness.js";

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("send-side memory", () => {
  it("a message the transport takes at once is charged once while held, and not at all once sent", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    await flush();
    const idle = client.engine.memory.used;
    const charged: number[] = [];
    for (const size of [1_000, 3_000]) {
      const sent = call.send(new Uint8Array(size));
      charged.push(client.engine.memory.used - idle); // the send returned: only the transport holds the message
      await sent;
      await flush();
      expect(client.engine.memory.used).toBe(idle);
    }
    expect(charged[1]! - charged[0]!).toBe(2_000); // 2,000 more bytes held, charged once
    client.engine.close();
  });
});

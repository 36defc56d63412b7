// The protocol's largest message, 2^32 - 1 bytes (a uint32 size), is sent;
// one byte more is refused (stream-api.test.ts). The sender reads only the
// message's length to decide, so a claimed length stands in for 4 GiB.
import { describe, expect, it } from "vitest";
import { Code, processMemoryUsage, setProcessMemoryLimit } from "../src/index.js";
import { clientUnderTest } from "./conformance/harness.js";

describe("the largest message", () => {
  it("a message of exactly 2^32 - 1 bytes is sent: its envelope declares that size", async () => {
    const limit = processMemoryUsage().limit;
    setProcessMemoryLimit(2 ** 40); // the budgets would refuse it first otherwise
    try {
      const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 2 ** 40, maxConnectionMemoryBytes: 2 ** 40 } });
      const call = client.open();
      const largest = Object.defineProperty(new Uint8Array(1), "length", { value: 2 ** 32 - 1 });
      const sending = call.send(largest);
      const envelope = client.conn.written.find((f) => f.frame.case === "requestMessage");
      expect(envelope?.frame.value).toMatchObject({ size: 2 ** 32 - 1 });
      call.cancel(); // the rest would wait for the peer's window
      await expect(sending).rejects.toMatchObject({ code: Code.CANCELLED });
      client.engine.close();
    } finally {
      setProcessMemoryLimit(limit);
    }
  });
});

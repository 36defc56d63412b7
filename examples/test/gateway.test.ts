import { describe, expect, it } from "vitest";
import { runGatewayDemo } from "../src/gateway/demo.js";

describe("examples: the gateway demo", () => {
  it("a caller in another process calls both agents by device ID through the gateway; bad keys and tokens are refused", async () => {
    const printed: string[] = [];
    const caller = await runGatewayDemo((line) => printed.push(line));
    expect(caller).toEqual([
      "caller → camera-3 GetStatus: firmware 1.9.0, 38.2 °C",
      "caller → thermostat-7 GetStatus: firmware 2.4.1, 20.5 °C",
      "caller → camera-3 TailLogs: motion detected at door",
      "caller → camera-3 TailLogs: uploaded clip 0412",
      'caller → toaster-1 GetStatus: UNAVAILABLE (no reverse tunnel for key "toaster-1")',
      "caller → camera-3 GetStatus: UNAUTHENTICATED (a valid bearer token is required)",
    ]);
    expect(printed.at(-1)).toBe("agents disconnected, gateway and control server stopped");
  });
});

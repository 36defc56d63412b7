// The cluster example (npm run demo:cluster): three replicas on a real
// Redis, agents behind a balancer, a caller on one replica reaching every
// device (locally or relayed) with the generated clients, and a rolling
// deploy of the replica holding one of them. The cluster snippets of docs/scaling-out.md
// are the example's code, verbatim.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runClusterDemo } from "../src/cluster/demo.js";
import { readSnippets, snippet } from "../../test/support/snippets.js";

const repoRoot = new URL("../../", import.meta.url);

/** The lines of `text` without their indentation, joined: a block compared whatever it is nested in. */
const flat = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .join("\n")
    .trim();

describe("cluster example", () => {
  it("a caller on one replica reaches every device, and a device on a drained replica again once its agent moved", async () => {
    const printed: string[] = [];
    const result = await runClusterDemo((line) => printed.push(line));
    // The balancer spread the three agents over the three replicas.
    expect(new Set(Object.values(result.placement))).toEqual(new Set(["replica-a", "replica-b", "replica-c"]));
    expect(result.calls.map((c) => [c.device, c.answer])).toEqual([
      ["camera-1", "20 °C, firmware 3.0.0"],
      ["camera-2", "29.5 °C, firmware 3.0.0"],
      ["thermostat-7", "39 °C, firmware 3.0.0"],
    ]);
    for (const call of result.calls) {
      expect(call.servedVia).toBe(result.placement[call.device]);
      const route = call.servedVia === "replica-a" ? "local tunnel" : `relayed via ${call.servedVia}`;
      expect(printed).toContain(`replica-a → ${call.device}: ${call.answer} (${route})`);
    }
    // The drained replica's device answered again, from another replica.
    const { drained, afterDrain } = result;
    expect(drained.replica).toBe(result.placement[drained.device]);
    expect(drained.replica).not.toBe("replica-a");
    expect(["replica-a", "replica-b", "replica-c"].filter((r) => r !== drained.replica)).toContain(drained.movedTo);
    expect(afterDrain.device).toBe(drained.device);
    expect(printed).toContain(`${drained.movedTo}: ${drained.device} connected`);
    expect(printed.at(-1)).toBe("agents disconnected, replicas stopped");
  }, 60_000);

  it("the cluster snippets of docs/scaling-out.md are the example's code", () => {
    const readme = readSnippets(new URL("docs/scaling-out.md", repoRoot).pathname);
    const replica = flat(readFileSync(new URL("examples/src/cluster/replica.ts", repoRoot), "utf8"));
    expect(replica).toContain(flat(snippet(readme, "cluster replica")));
    expect(replica).toContain(flat(snippet(readme, "cluster drain")));
  });
});

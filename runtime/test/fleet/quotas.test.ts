// Quotas per affinity key and per caller (issue #29): a noisy key is
// throttled with RESOURCE_EXHAUSTED and a RetryInfo while other keys go on,
// a noisy caller likewise, a bytes budget, the bounded bucket table, and the
// diagnostics event of throttled calls (otel-metrics.test.ts counts them).
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { CallQuotas } from "../../src/api/quotas/index.js";
import { RetryInfoSchema } from "../../src/errordetails.js";
import { Code, createTunnelClient, subscribeDiagnostics, TunnelError } from "../../src/index.js";
import type { CallThrottledEvent } from "../../src/protocol.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** The outcome of a call: "ok", or the error's code name with its RetryInfo delay in ms. */
async function outcome(
  call: Promise<unknown>,
): Promise<{ ok: true } | { ok: false; code: number; retryMs: number | undefined; message: string }> {
  try {
    await call;
    return { ok: true };
  } catch (e) {
    const error = TunnelError.from(e);
    const [info] = error.findDetails(RetryInfoSchema);
    const delay = info?.retryDelay;
    const retryMs = delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6;
    return { ok: false, code: error.code, retryMs, message: error.rawMessage };
  }
}

function recordThrottled(): CallThrottledEvent[] {
  const events: CallThrottledEvent[] = [];
  cleanup.add(subscribeDiagnostics({ callThrottled: (event) => events.push(event) }));
  return events;
}

describe("quotas", () => {
  it("throttle a noisy key with RESOURCE_EXHAUSTED and RetryInfo while the other keys go on", async () => {
    const events = recordThrottled();
    const hub = await startHub(cleanup, { quotas: { perKey: { callsPerSecond: 2, burst: 3 } } });
    await connectAgent(cleanup, hub, { name: "noisy" });
    await connectAgent(cleanup, hub, { name: "quiet" });
    const noisy = createTunnelClient(TestService, hub.handler.keyAsChannel("noisy"));
    const quiet = createTunnelClient(TestService, hub.handler.keyAsChannel("quiet"));

    const started = performance.now();
    const noisyOutcomes = [];
    const quietOutcomes = [];
    for (let i = 0; i < 12; i++) {
      noisyOutcomes.push(await outcome(noisy.unary({})));
      if (i % 4 === 0) quietOutcomes.push(await outcome(quiet.unary({})));
    }
    const elapsedS = (performance.now() - started) / 1000;
    const admitted = noisyOutcomes.filter((o) => o.ok).length;
    expect(admitted).toBeGreaterThanOrEqual(3); // the burst
    expect(admitted).toBeLessThanOrEqual(3 + Math.floor(elapsedS * 2));
    const throttled = noisyOutcomes.filter((o) => !o.ok);
    expect(throttled.length).toBe(12 - admitted);
    for (const o of throttled) {
      expect(o).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
      expect(o.ok === false && o.message).toMatch(/^quota exceeded for key "noisy" \(2 calls\/s\); retry in \d+ ms$/);
      expect(o.ok === false && o.retryMs).toBeGreaterThan(0);
      expect(o.ok === false && o.retryMs).toBeLessThanOrEqual(500);
    }
    expect(quietOutcomes).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(events.map((e) => [e.key, e.scope, e.unit, e.method])).toEqual(
      throttled.map(() => ["noisy", "key", "calls", "/grpchantesting.TestService/Unary"]),
    );

    // After the delay RetryInfo named, the key is admitted again.
    const last = throttled.at(-1)!;
    await new Promise((resolve) => setTimeout(resolve, last.ok ? 0 : last.retryMs));
    expect(await outcome(noisy.unary({}))).toEqual({ ok: true });
  });

  it("throttle a noisy caller across keys, named by callerOf from the call's metadata", async () => {
    const hub = await startHub(cleanup, {
      quotas: {
        perCaller: { callsPerSecond: 1, burst: 2 },
        callerOf: (metadata) => metadata.get("x-caller")[0]?.toString(),
      },
    });
    await connectAgent(cleanup, hub, { name: "a" });
    await connectAgent(cleanup, hub, { name: "b" });
    const call = (key: string, caller?: string) =>
      outcome(
        createTunnelClient(TestService, hub.handler.keyAsChannel(key)).unary(
          {},
          caller === undefined ? {} : { metadata: { "x-caller": caller } },
        ),
      );
    const noisy = [await call("a", "noisy"), await call("b", "noisy"), await call("a", "noisy"), await call("b", "noisy")];
    expect(noisy.slice(0, 2)).toEqual([{ ok: true }, { ok: true }]);
    expect(noisy.slice(2).map((o) => !o.ok && o.code)).toEqual([Code.RESOURCE_EXHAUSTED, Code.RESOURCE_EXHAUSTED]);
    expect(noisy[2].ok === false && noisy[2].message).toMatch(/^quota exceeded for caller "noisy"/);
    // Another caller, and calls without a caller, are not held back by it.
    expect([await call("a", "polite"), await call("b", "polite"), await call("a"), await call("b"), await call("a")]).toEqual(
      Array(5).fill({ ok: true }),
    );
  });

  it("a bytes budget: a key that moved more than its bytes takes no new call until they are paid back", async () => {
    const events = recordThrottled();
    const hub = await startHub(cleanup, { quotas: { perKey: { callsPerSecond: 1_000, bytesPerSecond: 1_000, burstBytes: 1_000 } } });
    await connectAgent(cleanup, hub, { name: "bulk" });
    await connectAgent(cleanup, hub, { name: "small" });
    const bulk = createTunnelClient(TestService, hub.handler.keyAsChannel("bulk"));
    // The call itself is never cut short: 4 KiB out, 4 KiB back (the payload echoed).
    const res = await bulk.unary({ payload: new Uint8Array(4_096), count: 4_096 });
    expect(res.payload.length).toBeGreaterThan(0);
    const next = await outcome(bulk.unary({}));
    expect(next).toMatchObject({ ok: false, code: Code.RESOURCE_EXHAUSTED });
    // About 7 KiB in debt at 1,000 bytes/s: several seconds.
    expect(next.ok === false && next.retryMs).toBeGreaterThan(5_000);
    expect(events.at(-1)).toMatchObject({ key: "bulk", scope: "key", unit: "bytes" });
    expect(await outcome(createTunnelClient(TestService, hub.handler.keyAsChannel("small")).unary({}))).toEqual({ ok: true });
  });

  it("the bucket table stays bounded (least recently used forgotten), a hot key keeps its debt", () => {
    const quotas = new CallQuotas({ perKey: { callsPerSecond: 1, burst: 1 }, maxTracked: 100 });
    quotas.admit("hot", "/m", undefined);
    for (let i = 0; i < 10_000; i++) {
      quotas.admit(`key-${i}`, "/m", undefined);
      if (i % 50 === 0) {
        expect(() => quotas.admit("hot", "/m", undefined)).toThrow(/quota exceeded for key "hot"/);
      }
    }
    expect(quotas.tracked).toBe(100);
    // A cold key forgotten comes back with a full bucket: the cap only errs towards admitting.
    expect(() => quotas.admit("key-0", "/m", undefined)).not.toThrow();
  });

  it("rejects bad limits with RangeError", () => {
    expect(() => new CallQuotas({ perKey: { callsPerSecond: 0 } })).toThrow(RangeError);
    expect(() => new CallQuotas({ perKey: { callsPerSecond: 1, burst: 0.5 } })).toThrow(RangeError);
    expect(() => new CallQuotas({ perCaller: { callsPerSecond: 1, bytesPerSecond: -1 } })).toThrow(RangeError);
    expect(() => new CallQuotas({ perKey: { callsPerSecond: Number.NaN } })).toThrow(RangeError);
    expect(() => new CallQuotas({ maxTracked: 0 })).toThrow(RangeError);
  });
});

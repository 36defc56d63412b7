// What a call waiting for a target (a tunnel, a route) stops waiting on:
// the caller's signal, its deadline, its own cancel — and, once disposed,
// nothing of it is left behind to fire later.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CallWaits } from "../src/api/retry/index.js";
import { Code, TunnelError } from "../src/index.js";

afterEach(() => {
  vi.useRealTimers();
});

const never = new Promise<never>(() => {});

describe("CallWaits", () => {
  it("stops at once for a caller whose signal was aborted before the wait began, with CANCELLED", async () => {
    const caller = new AbortController();
    caller.abort();
    const waits = new CallWaits(caller.signal, undefined);
    expect(waits.signal.aborted).toBe(true);
    await expect(waits.until(never)).rejects.toMatchObject({ code: Code.CANCELLED });
    waits.dispose();
  });

  it("stops when the caller aborts later, with the caller's TunnelError as is", async () => {
    const caller = new AbortController();
    const waits = new CallWaits(caller.signal, undefined);
    const waiting = waits.until(never);
    expect(waits.signal.aborted).toBe(false);
    caller.abort(new TunnelError(Code.ABORTED, "caller gave up"));
    await expect(waiting).rejects.toMatchObject({ code: Code.ABORTED, rawMessage: "caller gave up" });
    waits.dispose();
  });

  it("stops at the deadline with DEADLINE_EXCEEDED, not before", async () => {
    vi.useFakeTimers({ now: 10_000 });
    const waits = new CallWaits(undefined, 10_500);
    vi.advanceTimersByTime(499);
    expect(waits.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(waits.signal.reason).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    waits.dispose();
  });

  it("passes on what it waited for when that comes first", async () => {
    const waits = new CallWaits(new AbortController().signal, Date.now() + 60_000);
    await expect(waits.until(Promise.resolve("target"))).resolves.toBe("target");
    waits.dispose();
  });

  it("a cancel stops it with the cancel's reason", async () => {
    const waits = new CallWaits(undefined, undefined);
    const waiting = waits.until(never);
    waits.cancel(new TunnelError(Code.CANCELLED, "call cancelled"));
    await expect(waiting).rejects.toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled" });
  });

  it("once disposed, neither the caller's abort nor the deadline reaches it (no listener or timer is left)", () => {
    vi.useFakeTimers({ now: 10_000 });
    const caller = new AbortController();
    const waits = new CallWaits(caller.signal, 10_500);
    waits.dispose();
    expect(vi.getTimerCount()).toBe(0);
    caller.abort();
    vi.advanceTimersByTime(1_000);
    expect(waits.signal.aborted).toBe(false);
  });
});

// Retiring a tunnel (drain, a replaced reverse tunnel): it ends with `end`
// once its calls are done, or with `cutShort` when the grace period is over
// — and a tunnel that ended in time leaves no grace timer behind to fire.
import { afterEach, describe, expect, it, vi } from "vitest";
import { retire, retireAll } from "../src/api/tunnels/graceful-end.js";
import { Code, TunnelError } from "../src/index.js";
import { serverUnderTest } from "./conformance/harness.js";
import { c2s } from "./support/frames.js";

afterEach(() => {
  vi.useRealTimers();
});

/** A server engine with one call whose handler runs until its stream is cancelled. */
function busyTunnel() {
  const handler = (stream: { signal: AbortSignal }) =>
    new Promise<void>((resolve) => stream.signal.addEventListener("abort", () => resolve(), { once: true }));
  const server = serverUnderTest({ handlers: { "test.Busy/Run": handler } });
  server.send(c2s.newStream(1n, "test.Busy/Run"));
  return server;
}

describe("retire", () => {
  it("ends an idle tunnel at once with `end`; the grace period's cut never comes", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { engine } = serverUnderTest();
    const cutShort = vi.fn();
    await retire(engine, 1_000, () => engine.close(), cutShort);
    expect(engine.closed).toBe(true);
    vi.advanceTimersByTime(5_000);
    expect(cutShort).not.toHaveBeenCalled();
  });

  it("gives a busy tunnel the grace period, then cuts it short", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { engine, conn } = busyTunnel();
    const over = new TunnelError(Code.UNAVAILABLE, "grace period over");
    let retired = false;
    const retiring = retire(
      engine,
      1_000,
      () => engine.close(),
      () => engine.abort(over),
    ).then(() => (retired = true));
    await vi.advanceTimersByTimeAsync(999);
    expect([engine.closed, retired]).toEqual([false, false]);
    await vi.advanceTimersByTimeAsync(1);
    await retiring;
    expect(engine.closed).toBe(true);
    expect(conn.abortedWith).toBe(over);
  });

  it("resolves at once for a tunnel that already ended, and neither ends nor cuts it again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { engine } = serverUnderTest();
    engine.close();
    const end = vi.fn();
    const cutShort = vi.fn();
    await retire(engine, 1_000, end, cutShort);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect([end.mock.calls.length, cutShort.mock.calls.length]).toEqual([0, 0]);
  });
});

describe("retireAll", () => {
  it("closes idle tunnels cleanly and aborts busy ones with `over` after the grace period; resolves when all ended", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const idle = serverUnderTest();
    const { engine: busy, conn: busyConn } = busyTunnel();
    const over = new TunnelError(Code.UNAVAILABLE, "grace period over");
    const all = retireAll([idle.engine, busy], 1_000, over);
    await vi.advanceTimersByTimeAsync(999);
    expect([idle.engine.closed, busy.closed]).toEqual([true, false]);
    await vi.advanceTimersByTimeAsync(1);
    await all;
    expect(busy.closed).toBe(true);
    expect(busyConn.abortedWith).toBe(over);
    expect(idle.conn.abortedWith).toBeUndefined();
  });
});

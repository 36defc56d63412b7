// resolveLimits: the documented defaults (docs/security.md), and a clear
// RangeError, naming the limit, for a value a tunnel cannot work with.
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS, resolveLimits } from "../src/engine/limits.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("resolveLimits", () => {
  it("defaults to the documented limits", () => {
    expect(resolveLimits(undefined)).toEqual({
      receiveWindowBytes: 64 * KiB,
      maxReceiveWindowBytes: 4 * MiB,
      maxChunkBytes: 4 * MiB - 64,
      maxReceiveMessageBytes: 4 * MiB,
      maxBufferedBytesPerStream: 8 * MiB,
      maxConcurrentStreams: 10_000,
      maxTunnelMemoryBytes: 128 * MiB,
      maxConnectionMemoryBytes: 256 * MiB,
      maxTunnelsPerConnection: 256,
      idleStreamTimeoutMs: 5 * 60_000,
      maxPendingControlBytes: MiB,
      maxMetadataBytes: 64 * KiB,
      http2WindowBytes: MiB,
      settingsTimeoutMs: 10_000,
    });
    expect(resolveLimits({})).toEqual(DEFAULT_LIMITS);
  });

  it("takes what is set over the defaults, and over other defaults when given", () => {
    expect(resolveLimits({ maxConcurrentStreams: 3 }).maxConcurrentStreams).toBe(3);
    expect(resolveLimits({ settingsTimeoutMs: 5 }, { ...DEFAULT_LIMITS, maxConcurrentStreams: 7 })).toMatchObject({
      settingsTimeoutMs: 5,
      maxConcurrentStreams: 7,
    });
  });

  it("refuses a receive window that is not an integer from 1 to 2^32 - 1, accepting both ends", () => {
    for (const bad of [0, -5, 1.5, Number.NaN, 0x1_0000_0000]) {
      expect(() => resolveLimits({ receiveWindowBytes: bad })).toThrow(
        new RangeError(`receiveWindowBytes must be an integer from 1 to 4294967295 (got ${bad})`),
      );
    }
    expect(resolveLimits({ receiveWindowBytes: 1 }).receiveWindowBytes).toBe(1);
    expect(resolveLimits({ receiveWindowBytes: 0xffff_ffff }).maxReceiveWindowBytes).toBe(0xffff_ffff);
  });

  it("refuses a maximum window above 2^32 - 1", () => {
    expect(() => resolveLimits({ maxReceiveWindowBytes: 0x1_0000_0000 })).toThrow(
      new RangeError("maxReceiveWindowBytes must be an integer from 1 to 4294967295 (got 4294967296)"),
    );
    expect(() => resolveLimits({ maxReceiveWindowBytes: 100_000.5 })).toThrow(RangeError);
  });

  it("refuses memory, tunnel and back-pressure limits below 1 or not integers", () => {
    for (const name of ["maxTunnelMemoryBytes", "maxConnectionMemoryBytes", "maxTunnelsPerConnection", "maxPendingControlBytes"] as const) {
      expect(() => resolveLimits({ [name]: 0 })).toThrow(
        new RangeError(`${name} must be an integer from 1 to ${Number.MAX_SAFE_INTEGER} (got 0)`),
      );
      expect(() => resolveLimits({ [name]: 2.5 })).toThrow(RangeError);
      expect(resolveLimits({ [name]: 1 })[name]).toBe(1);
      expect(resolveLimits({ [name]: Number.MAX_SAFE_INTEGER })[name]).toBe(Number.MAX_SAFE_INTEGER);
    }
  });

  it("takes an HTTP/2 window from HTTP/2's default to its largest, and refuses others", () => {
    expect(resolveLimits({ http2WindowBytes: 65_535 }).http2WindowBytes).toBe(65_535);
    expect(resolveLimits({ http2WindowBytes: 2 ** 31 - 1 }).http2WindowBytes).toBe(2 ** 31 - 1);
    for (const bad of [65_534, 2 ** 31, 1.5 * MiB + 0.5]) {
      expect(() => resolveLimits({ http2WindowBytes: bad })).toThrow(
        new RangeError(`http2WindowBytes must be an integer from 65535 to ${2 ** 31 - 1} (got ${bad})`),
      );
    }
  });

  it("takes an idle stream timeout of 0 (off), refuses a negative one", () => {
    expect(resolveLimits({ idleStreamTimeoutMs: 0 }).idleStreamTimeoutMs).toBe(0);
    expect(() => resolveLimits({ idleStreamTimeoutMs: -1 })).toThrow(
      new RangeError(`idleStreamTimeoutMs must be an integer from 0 to ${Number.MAX_SAFE_INTEGER} (got -1)`),
    );
  });

  it("lets a revision-0 stream buffer at least one whole message", () => {
    expect(resolveLimits({ maxReceiveMessageBytes: 16 * MiB }).maxBufferedBytesPerStream).toBe(16 * MiB);
    expect(resolveLimits({ maxBufferedBytesPerStream: KiB, maxReceiveMessageBytes: 2 * KiB }).maxBufferedBytesPerStream).toBe(2 * KiB);
    expect(resolveLimits({ maxBufferedBytesPerStream: 32 * MiB }).maxBufferedBytesPerStream).toBe(32 * MiB);
  });
});

import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";

describe("TunnelError instanceof across copies of the runtime", () => {
  it("recognizes a TunnelError made by a second module instance of the runtime", async () => {
    // The query makes the module loader evaluate errors.ts again: a second,
    // unrelated TunnelError class, as with two installed copies of the package.
    const specifier = "../src/errors.ts?second-copy";
    const second = (await import(specifier)) as typeof import("../src/errors.js");
    expect(second.TunnelError).not.toBe(TunnelError);
    const fromSecond = new second.TunnelError(Code.NOT_FOUND, "elsewhere");
    expect(Object.getPrototypeOf(fromSecond)).not.toBe(TunnelError.prototype);
    expect(fromSecond instanceof TunnelError).toBe(true);
    expect(new TunnelError(Code.NOT_FOUND, "here") instanceof second.TunnelError).toBe(true);
    // ...so conversions keep it as it is instead of wrapping it as UNKNOWN.
    expect(TunnelError.from(fromSecond)).toBe(fromSecond);
  });

  it("recognizes any object carrying the brand, and nothing else", () => {
    const branded = Object.create({ [Symbol.for("@protoc-gen-tunnel/runtime/TunnelError")]: true }) as object;
    expect(branded instanceof TunnelError).toBe(true);
    expect(new Error("plain") instanceof TunnelError).toBe(false);
    expect({ code: Code.INTERNAL, rawMessage: "look-alike" } instanceof TunnelError).toBe(false);
    expect((null as unknown) instanceof TunnelError).toBe(false);
  });

  it("keeps ordinary instanceof for subclasses", () => {
    class QuotaError extends TunnelError {}
    expect(new QuotaError(Code.RESOURCE_EXHAUSTED, "quota") instanceof QuotaError).toBe(true);
    expect(new QuotaError(Code.RESOURCE_EXHAUSTED, "quota") instanceof TunnelError).toBe(true);
    expect(new TunnelError(Code.RESOURCE_EXHAUSTED, "plain") instanceof QuotaError).toBe(false);
  });
});

// The relay's metadata, as the relay listener reads it. Over HTTP/2 a
// repeated text header reaches grpc-js joined into one value ("s, s", so
// relay-auth.test.ts sees it refused by value); these cases pin the
// checks themselves for metadata built any other way, e.g. by a server
// interceptor or another transport.
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { RELAY_KEY_HEADER, RELAY_SECRET_HEADER } from "../../src/cluster.js";
import { secretMatches, setRelayKey, takeRelayKey } from "../../src/cluster/relay/relay-metadata.js";

const SECRET = "a-cluster-secret-of-some-length";

function metadataWith(key: string, ...values: Array<string | Buffer>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const value of values) metadata.add(key, value);
  return metadata;
}

describe("secretMatches", () => {
  it("accepts exactly one value equal to the secret", () => {
    expect(secretMatches(metadataWith(RELAY_SECRET_HEADER, SECRET), SECRET)).toBe(true);
  });

  it("refuses the secret sent twice: only a single value is checked, so a second one is never trusted", () => {
    expect(secretMatches(metadataWith(RELAY_SECRET_HEADER, SECRET, SECRET), SECRET)).toBe(false);
    expect(secretMatches(metadataWith(RELAY_SECRET_HEADER, SECRET, "guess"), SECRET)).toBe(false);
    expect(secretMatches(metadataWith(RELAY_SECRET_HEADER, "guess", SECRET), SECRET)).toBe(false);
  });

  it("refuses no secret, another one, a prefix or an extension of it", () => {
    for (const given of [undefined, "", "other", SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase()]) {
      const metadata = given === undefined ? new grpc.Metadata() : metadataWith(RELAY_SECRET_HEADER, given);
      expect(secretMatches(metadata, SECRET)).toBe(false);
    }
  });
});

describe("takeRelayKey", () => {
  it("reads the key set by setRelayKey (any UTF-8 string) and removes it, so the agent never sees it", () => {
    for (const key of ["camera-1", "", "ä/🚗, spaced"]) {
      const metadata = metadataWith("x-other", "kept");
      setRelayKey(metadata, key);
      expect(takeRelayKey(metadata)).toBe(key);
      expect(metadata.get(RELAY_KEY_HEADER)).toEqual([]);
      expect(metadata.get("x-other")).toEqual(["kept"]);
    }
  });

  it("setRelayKey replaces a key a caller set", () => {
    const metadata = metadataWith(RELAY_KEY_HEADER, Buffer.from("forged"));
    setRelayKey(metadata, "real");
    expect(takeRelayKey(metadata)).toBe("real");
  });

  it("finds no key when there is none or more than one, and removes them all", () => {
    expect(takeRelayKey(new grpc.Metadata())).toBeUndefined();
    const twice = metadataWith(RELAY_KEY_HEADER, Buffer.from("a"), Buffer.from("b"));
    expect(takeRelayKey(twice)).toBeUndefined();
    expect(twice.get(RELAY_KEY_HEADER)).toEqual([]);
  });
});

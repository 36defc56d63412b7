import { timingSafeEqual, createHash } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";

/*
 * What replicas tell each other on top of the tunnel protocol, in metadata
 * only: the wire protocol between replicas is the ordinary forward tunnel.
 */

/**
 * Request metadata of a relayed call: the affinity key whose tunnel the
 * owner replica starts the call on, as UTF-8 (any string is a key). The
 * owner removes it before the agent sees the call.
 */
export const RELAY_KEY_HEADER = "grpctunnel-relay-key-bin";

/**
 * Response metadata of a call another replica served: that replica's id, in
 * the response headers (in the trailers of an answer without headers). Set
 * by the serving replica's relay; calls served by a tunnel of the replica
 * that was called carry its own id too (see ClusterChannel).
 */
export const SERVED_BY_HEADER = "tunnel-served-by";

/** Tunnel-RPC metadata of a relay tunnel: the cluster's shared secret. */
export const RELAY_SECRET_HEADER = "grpctunnel-relay-secret";

/** Adds the relay key to a call's metadata (replacing one a caller may have set). */
export function setRelayKey(metadata: Metadata, key: string): void {
  metadata.set(RELAY_KEY_HEADER, Buffer.from(key, "utf8"));
}

/** Removes the relay key from a relayed call's metadata; undefined when there is not exactly one. */
export function takeRelayKey(metadata: Metadata): string | undefined {
  const values = metadata.get(RELAY_KEY_HEADER);
  metadata.remove(RELAY_KEY_HEADER);
  if (values.length !== 1 || typeof values[0] === "string") {
    return undefined;
  }
  return values[0].toString("utf8");
}

/** Checks a relay tunnel's secret in constant time (over digests, so the length leaks nothing either). */
export function secretMatches(metadata: Metadata, secret: string): boolean {
  const given = metadata.get(RELAY_SECRET_HEADER);
  if (given.length !== 1 || typeof given[0] !== "string") {
    return false;
  }
  return timingSafeEqual(digest(given[0]), digest(secret));
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

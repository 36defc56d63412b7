import { createHmac, timingSafeEqual } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { Code, TunnelError, type TunnelChannel, type TunnelServiceHandlerOptions } from "@protoc-gen-tunnel/runtime";

/**
 * Authenticating reverse tunnels: the affinity key must come from what the
 * server verified, never from what the client claims, or any agent could
 * register under another agent's key and receive its calls.
 *
 * Here a device proves its identity with a token signed by the server
 * (`<device-id>.<hmac>`), sent as `authorization: Bearer <token>` on the
 * tunnel RPC. A grpc-js server interceptor checks it before the tunnel
 * service sees the call, and records the verified ID in a header that
 * clients cannot set themselves. With TLS client certificates, read the
 * identity from `tunnel.authContext` instead.
 */

/** Set by the interceptor to the verified device ID; any client-sent value is dropped. */
export const AUTHENTICATED_DEVICE_HEADER = "x-authenticated-device";

export function issueDeviceToken(secret: string, deviceId: string): string {
  return `${deviceId}.${sign(secret, deviceId)}`;
}

/** The device ID a token proves, or undefined if it is not genuine. */
export function verifyDeviceToken(secret: string, token: string): string | undefined {
  const dot = token.lastIndexOf(".");
  if (dot <= 0) {
    return undefined;
  }
  const deviceId = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), "hex");
  const expected = Buffer.from(sign(secret, deviceId), "hex");
  return given.length === expected.length && timingSafeEqual(given, expected) ? deviceId : undefined;
}

/**
 * Rejects calls without a valid device token (UNAUTHENTICATED) and replaces
 * the authenticated-device header with the verified ID.
 */
export function deviceAuthInterceptor(secret: string): grpc.ServerInterceptor {
  return (_method, call) => {
    const intercepted: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            metadata.remove(AUTHENTICATED_DEVICE_HEADER);
            const auth = metadata.get("authorization")[0];
            const token = typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7) : "";
            const deviceId = verifyDeviceToken(secret, token);
            if (deviceId === undefined) {
              intercepted.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: "a valid device token is required" });
              return;
            }
            metadata.set(AUTHENTICATED_DEVICE_HEADER, deviceId);
            nextMetadata(metadata);
          },
        });
      },
    });
    return intercepted;
  };
}

/** The affinity key of a reverse tunnel: the device the interceptor verified. */
export function authenticatedDevice(tunnel: TunnelChannel): string {
  const deviceId = tunnel.metadata.get(AUTHENTICATED_DEVICE_HEADER)[0];
  if (typeof deviceId !== "string" || deviceId === "") {
    // Only reachable if the interceptor is missing: refuse rather than guess.
    throw new TunnelError(Code.UNAUTHENTICATED, "reverse tunnel is not authenticated");
  }
  return deviceId;
}

/**
 * How many reverse tunnels one verified device may hold at once. One: a
 * device that reconnects (its old connection perhaps still half-open)
 * replaces its old tunnel, and no device, however buggy or compromised, can
 * pile up tunnels that each hold server memory.
 */
export const TUNNELS_PER_DEVICE = 1;

/**
 * TunnelServiceHandler options for authenticated devices: each reverse
 * tunnel is keyed by the device the interceptor verified, at most
 * TUNNELS_PER_DEVICE per device.
 */
export function deviceTunnelOptions(): TunnelServiceHandlerOptions<string> {
  return { affinityKey: authenticatedDevice, maxReverseTunnelsPerKey: TUNNELS_PER_DEVICE };
}

function sign(secret: string, deviceId: string): string {
  return createHmac("sha256", secret).update(deviceId).digest("hex");
}

import type { Attributes } from "@opentelemetry/api";
import type { Metadata } from "@grpc/grpc-js";
import type { TextMapGetter, TextMapSetter } from "@opentelemetry/api";

/** The RPC semantic conventions' attributes of a tunneled call to "/pkg.Service/Method". */
export function rpcAttributes(service: string, method: string): Attributes {
  return { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method };
}

/** Splits "/pkg.Service/Method" (or "pkg.Service/Method") into service and method. */
export function splitMethodPath(path: string): [service: string, method: string] {
  const slash = path.lastIndexOf("/");
  return [path.slice(path.startsWith("/") ? 1 : 0, slash), path.slice(slash + 1)];
}

/** W3C trace context (and any other propagator's fields) in a tunneled call's request metadata. */
export const metadataSetter: TextMapSetter<Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

export const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key);
    return values.length <= 1 ? (values.length === 0 ? undefined : String(values[0])) : values.map(String);
  },
};

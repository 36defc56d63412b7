import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import { safeIdentifier } from "@bufbuild/protoplugin";

/** The exported names generated for one service. */
export interface ServiceNames {
  /** `FooServiceTunnelClient`: the typed client class. */
  client: string;
  /** `FooServiceImpl`: the interface an implementation satisfies. */
  impl: string;
  /** `registerFooService`: registers an implementation with a registrar. */
  register: string;
  /** `fooServiceClientForKey`: client over the reverse tunnels of one affinity key. */
  clientForKey: string;
  /** `fooServiceClient`: client over all reverse tunnels, round-robin. */
  roundRobin: string;
}

/**
 * Names every service's exports in a file so that none clash with each
 * other or with reserved words. Clashes (e.g. services `Foo` and `foo` both
 * wanting `fooClient`) are salted with `$`, `$1`, ... like protoc-gen-es,
 * since `$` never occurs in a protobuf name. Clashes with imported symbols
 * need no care here: protoplugin aliases imports that shadow an export.
 */
export function serviceNames(file: DescFile): Map<DescService, ServiceNames> {
  const taken = new Set<string>();
  const claim = (ideal: string): string => {
    for (let i = 0; ; i++) {
      const salt = i === 0 ? "" : i === 1 ? "$" : `$${i - 1}`;
      const name = safeIdentifier(ideal + salt);
      if (!taken.has(name)) {
        taken.add(name);
        return name;
      }
    }
  };
  const names = new Map<DescService, ServiceNames>();
  for (const service of file.services) {
    const upper = upperFirst(service.name);
    const lower = lowerFirst(service.name);
    names.set(service, {
      // Types keep the proto spelling, like the protoc-gen-es descriptor.
      client: claim(`${service.name}TunnelClient`),
      impl: claim(`${service.name}Impl`),
      register: claim(`register${upper}`),
      clientForKey: claim(`${lower}ClientForKey`),
      roundRobin: claim(`${lower}Client`),
    });
  }
  return names;
}

/**
 * Name of a client method. It is the descriptor's `localName` (already safe
 * from built-in property names such as `constructor`), except `then`: a class
 * with a `then` method makes its instances thenables, so `await` on one would
 * start a call.
 */
export function clientMethodName(method: DescMethod): string {
  return method.localName === "then" ? "then$" : method.localName;
}

/** Name of the client's field holding its channel, clear of every method name. */
export function channelFieldName(service: DescService): string {
  const methods = new Set(service.methods.map(clientMethodName));
  let name = "channel";
  while (methods.has(name)) {
    name += "$";
  }
  return name;
}

/**
 * A parameter name that does not shadow `value`, the one imported value a
 * generated body refers to (the service descriptor). Only a service named
 * like a parameter (e.g. `service request {}`) needs this.
 */
export function paramName(ideal: string, value: string): string {
  return ideal === value ? `${ideal}$` : ideal;
}

function lowerFirst(name: string): string {
  return name.length === 0 ? name : name[0].toLowerCase() + name.slice(1);
}

function upperFirst(name: string): string {
  return name.length === 0 ? name : name[0].toUpperCase() + name.slice(1);
}

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
  /** `fooServiceAnyAgentClient`: client over all reverse tunnels, round-robin. */
  anyAgent: string;
  /** `fooServiceClient`: the deprecated name of `anyAgent`. */
  roundRobin: string;
  /** `fooServiceForEachAgent`: fan-out over a handler's agents with a typed client. */
  forEachAgent: string;
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
      anyAgent: claim(`${lower}AnyAgentClient`),
      roundRobin: claim(`${lower}Client`),
      forEachAgent: claim(`${lower}ForEachAgent`),
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

/**
 * Names of the client's members besides one per RPC: the field holding its
 * channel and the `open<Method>` helper of each bidi method, clear of
 * every RPC's method name and of each other.
 */
export function clientMemberNames(service: DescService): { channel: string; open: Map<DescMethod, string> } {
  const taken = new Set(service.methods.map(clientMethodName));
  const claim = (ideal: string) => {
    let name = ideal;
    while (taken.has(name)) {
      name += "$";
    }
    taken.add(name);
    return name;
  };
  const channel = claim("channel");
  const open = new Map<DescMethod, string>();
  for (const method of service.methods) {
    if (method.methodKind === "bidi_streaming") {
      open.set(method, claim(`open${upperFirst(method.localName.replace(/\$$/, ""))}`));
    }
  }
  return { channel, open };
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

import type { DescService } from "@bufbuild/protobuf";
import type { GeneratedFile } from "@bufbuild/protoplugin";
import { serviceDoc } from "./docs.js";
import type { ServiceNames } from "./names.js";
import type { RuntimeSymbols } from "./symbols.js";

/**
 * `fooServiceClientForKey` and `fooServiceClient`: clients over the reverse
 * tunnels a TunnelServiceHandler holds, by affinity key or round-robin.
 */
export function generateFactories(f: GeneratedFile, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const forKey = `A client of ${service.typeName} over the reverse tunnels with affinity key \`key\`, round-robin.`;
  f.print(f.jsDoc(serviceDoc(service, forKey, false)));
  f.print(f.export("function", names.clientForKey), "<K>(handler: ", rt.ReverseChannels, "<K>, key: K): ", names.client, " {");
  f.print("  return new ", names.client, "(handler.keyAsChannel(key));");
  f.print("}");
  f.print();

  const roundRobin = `A client of ${service.typeName} over every reverse tunnel of \`handler\`, round-robin.`;
  f.print(f.jsDoc(serviceDoc(service, roundRobin, false)));
  f.print(f.export("function", names.roundRobin), "<K>(handler: ", rt.ReverseChannels, "<K>): ", names.client, " {");
  f.print("  return new ", names.client, "(handler.asChannel());");
  f.print("}");
  f.print();
}

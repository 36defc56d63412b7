import type { DescService } from "@bufbuild/protobuf";
import type { DeclarationPrinter } from "./declarations.js";
import { serviceDoc } from "./docs.js";
import type { ServiceNames } from "./names.js";
import type { RuntimeSymbols } from "./symbols.js";

/**
 * `fooServiceClientForKey` and `fooServiceClient`: clients over the reverse
 * tunnels a TunnelServiceHandler holds, by affinity key or round-robin.
 */
export function generateFactories(out: DeclarationPrinter, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const handler = { name: "handler", type: [rt.ReverseChannels, "<K>"] };
  const forKey = `A client of ${service.typeName} over the reverse tunnels with affinity key \`key\`, round-robin.`;
  out.function(
    serviceDoc(service, forKey, false),
    { name: names.clientForKey, typeParams: "<K>", params: [handler, { name: "key", type: "K" }], returns: names.client },
    [["return new ", names.client, "(handler.keyAsChannel(key));"]],
  );

  const roundRobin = `A client of ${service.typeName} over every reverse tunnel of \`handler\`, round-robin.`;
  out.function(
    serviceDoc(service, roundRobin, false),
    { name: names.roundRobin, typeParams: "<K>", params: [handler], returns: names.client },
    [["return new ", names.client, "(handler.asChannel());"]],
  );
}

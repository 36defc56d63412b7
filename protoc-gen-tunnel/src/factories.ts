import type { DescService } from "@bufbuild/protobuf";
import type { DeclarationPrinter, Param } from "./declarations.js";
import { serviceDoc } from "./docs.js";
import type { ServiceNames } from "./names.js";
import type { RuntimeSymbols } from "./symbols.js";

/**
 * The functions that reach the agents connected to a TunnelServiceHandler
 * over their reverse tunnels: `fooServiceClientForKey` (one affinity key),
 * `fooServiceAnyAgentClient` (any agent, round-robin; `fooServiceClient`
 * is its deprecated old name) and `fooServiceForEachAgent` (fan-out).
 */
export function generateFactories(out: DeclarationPrinter, service: DescService, names: ServiceNames, rt: RuntimeSymbols): void {
  const handler: Param = { name: "handler", type: [rt.ReverseChannels, "<K>"] };
  const options: Param = { name: "options", type: rt.TunnelClientOptions, optional: true };
  const forKey = `A client of ${service.typeName} over the reverse tunnels with affinity key \`key\`, round-robin.`;
  out.function(
    serviceDoc(service, forKey, false),
    { name: names.clientForKey, typeParams: "<K>", params: [handler, { name: "key", type: "K" }, options], returns: names.client },
    [["return new ", names.client, "(handler.keyAsChannel(key), options);"]],
  );

  const anyAgent = `A client of ${service.typeName} over every reverse tunnel of \`handler\`: each call goes to any agent, round-robin.`;
  out.function(
    serviceDoc(service, anyAgent, false),
    { name: names.anyAgent, typeParams: "<K>", params: [handler, options], returns: names.client },
    [["return new ", names.client, "(handler.asChannel(), options);"]],
  );

  // Kept for one release: the name read like a plain client, not "any agent, round-robin".
  const renamed =
    `The old name of \`${names.anyAgent}\`, which it calls.\n\n@generated from ${service.toString()}\n` +
    `@deprecated Use \`${names.anyAgent}\`; this name goes in the next release.`;
  out.function(renamed, { name: names.roundRobin, typeParams: "<K>", params: [handler, options], returns: names.client }, [
    ["return ", names.anyAgent, "(handler, options);"],
  ]);

  const { AbortSignal: abortSignal, AsyncIterable: asyncIterable, Promise: promise } = rt.globals;
  const fanOut =
    `Calls \`fn\` with a client of ${service.typeName} for every selected agent (\`keys\`, \`prefix\` or \`all\`), ` +
    "at most `options.concurrency` at once, and yields each agent's result or error as it comes.";
  out.function(
    serviceDoc(service, fanOut, false),
    {
      name: names.forEachAgent,
      typeParams: "<K, R>",
      params: [
        { name: "handler", type: [rt.FanOutHandler, "<K>"] },
        { name: "selection", type: [rt.AgentSelection, "<K>"] },
        { name: "fn", type: ["(client: ", names.client, ", key: K, signal: ", abortSignal, ") => ", promise, "<R>"] },
        { name: "options", type: rt.ForEachAgentOptions, optional: true },
      ],
      returns: [asyncIterable, "<", rt.AgentResult, "<K, R>>"],
    },
    [
      [
        "return ",
        rt.forEachAgent,
        "(handler, selection, (channel, key, signal) => fn(new ",
        names.client,
        "(channel), key, signal), options);",
      ],
    ],
  );
}

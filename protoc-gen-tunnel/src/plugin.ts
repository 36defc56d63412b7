import { createEcmaScriptPlugin, type Schema } from "@bufbuild/protoplugin";
import { generateClient } from "./client.js";
import { generateFactories } from "./factories.js";
import { serviceNames } from "./names.js";
import { parseOptions, type TunnelPluginOptions } from "./options.js";
import { generateServer } from "./server.js";
import { runtimeSymbols } from "./symbols.js";
import { pluginVersion } from "./version.js";

/**
 * The protoc-gen-tunnel plugin. For every proto file with services it writes
 * `<name>_tunnel.ts` next to protoc-gen-es's `<name>_pb.ts`. JavaScript and
 * declaration targets are transpiled from the TypeScript by protoplugin.
 */
export const protocGenTunnel = createEcmaScriptPlugin<TunnelPluginOptions>({
  name: "protoc-gen-tunnel",
  version: pluginVersion,
  parseOptions,
  generateTs,
});

function generateTs(schema: Schema<TunnelPluginOptions>): void {
  for (const file of schema.files) {
    const f = schema.generateFile(`${file.name}_tunnel.ts`);
    f.preamble(file);
    // A file without services stays empty: protoplugin drops it unless
    // keep_empty_files=true asks for it (e.g. for build systems).
    const rt = runtimeSymbols(f, file, schema.options.runtimeImport);
    const names = serviceNames(file);
    for (const service of file.services) {
      const n = names.get(service)!;
      generateClient(f, service, n, rt);
      generateFactories(f, service, n, rt);
      generateServer(f, service, n, rt);
    }
  }
}

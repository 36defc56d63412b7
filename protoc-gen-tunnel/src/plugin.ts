import { createEcmaScriptPlugin, type Schema, type Target } from "@bufbuild/protoplugin";
import { generateClient } from "./client.js";
import { DeclarationPrinter } from "./declarations.js";
import { generateFactories } from "./factories.js";
import { serviceNames } from "./names.js";
import { parseOptions, type TunnelPluginOptions } from "./options.js";
import { generateServer } from "./server.js";
import { runtimeSymbols } from "./symbols.js";
import { pluginVersion } from "./version.js";

/**
 * The protoc-gen-tunnel plugin. For every proto file with services it writes
 * `<name>_tunnel.ts` next to protoc-gen-es's `<name>_pb.ts`, or for
 * `target=js+dts` `<name>_tunnel.js` and `<name>_tunnel.d.ts`. All three are
 * printed from the same templates; none is transpiled, so generating never
 * loads TypeScript (protoplugin's transpiler would pick up the user's
 * installed TypeScript, which may not be the version it expects).
 */
export const protocGenTunnel = createEcmaScriptPlugin<TunnelPluginOptions>({
  name: "protoc-gen-tunnel",
  version: pluginVersion,
  parseOptions,
  generateTs: generate,
  generateJs: generate,
  generateDts: generate,
});

const extensions: Record<Target, string> = { ts: ".ts", js: ".js", dts: ".d.ts" };

function generate(schema: Schema<TunnelPluginOptions>, target: Target): void {
  for (const file of schema.files) {
    const f = schema.generateFile(`${file.name}_tunnel${extensions[target]}`);
    const out = new DeclarationPrinter(f, target);
    f.preamble(file);
    // A file without services stays empty: protoplugin drops it unless
    // keep_empty_files=true asks for it (e.g. for build systems).
    const rt = runtimeSymbols(f, file, schema.options.runtimeImport);
    const names = serviceNames(file);
    for (const service of file.services) {
      const n = names.get(service)!;
      generateClient(out, service, n, rt);
      generateFactories(out, service, n, rt);
      generateServer(out, service, n, rt);
    }
  }
}

/** Options of protoc-gen-tunnel itself (protoplugin's standard ones come on top). */
export interface TunnelPluginOptions {
  /** Module the generated code imports runtime types from. */
  runtimeImport: string;
}

/** The module generated code imports the runtime from, unless `runtime_import` says otherwise. */
export const DEFAULT_RUNTIME_IMPORT = "@protoc-gen-tunnel/runtime";

/**
 * Parses the plugin's own options. protoplugin hands over every option it
 * does not know itself; an unknown one is an error, so typos are caught.
 */
export function parseOptions(raw: { key: string; value: string }[]): TunnelPluginOptions {
  const options: TunnelPluginOptions = { runtimeImport: DEFAULT_RUNTIME_IMPORT };
  for (const { key, value } of raw) {
    switch (key) {
      case "runtime_import":
        if (value.trim() === "") {
          throw new Error("runtime_import needs a module name, e.g. runtime_import=@protoc-gen-tunnel/runtime");
        }
        options.runtimeImport = value.trim();
        break;
      default:
        throw new Error(`unknown option "${key}"`);
    }
  }
  return options;
}

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** runtime/ of the repository. */
export const runtimeDir = fileURLToPath(new URL("../../runtime/", import.meta.url));

/** A tsconfig of the runtime ("tsconfig.json": tsc -b's, "tsconfig.cjs.json": the CommonJS build's), parsed as tsc reads it. */
export function runtimeConfig(config: string): ts.ParsedCommandLine {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(runtimeDir, config),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (parsed === undefined) {
    throw new Error(`cannot read runtime/${config}`);
  }
  return parsed;
}

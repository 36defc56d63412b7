import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { bufBin, pluginBin, protocGenEsBin } from "./codegen.js";

/**
 * Runs `buf generate` (offline) the way a user's repository would: both
 * plugins as `local` plugins of a v2 buf.gen.yaml, protoc-gen-tunnel as a
 * command list, both with `target`. Writes the code to `<workDir>/gen`.
 */
export function bufGenerate(workDir: string, moduleDir: string, protoPath: string, target = "ts"): string {
  const template = [
    "version: v2",
    "clean: true",
    "plugins:",
    `  - local: ${JSON.stringify(protocGenEsBin)}`,
    "    out: gen",
    `    opt: [target=${target}, import_extension=js]`,
    `  - local: ["node", ${JSON.stringify(pluginBin)}]`,
    "    out: gen",
    `    opt: [target=${target}, import_extension=js]`,
    "",
  ].join("\n");
  writeFileSync(join(workDir, "buf.gen.yaml"), template);
  execFileSync(bufBin, ["generate", moduleDir, "--template", "buf.gen.yaml", "--path", join(moduleDir, protoPath)], {
    cwd: workDir,
    stdio: "pipe",
  });
  return join(workDir, "gen");
}

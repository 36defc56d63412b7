// The API reference (`npm run docs`, TypeDoc from the TSDoc) builds without
// a warning, and its configuration turns an undocumented export into an
// error, so CI fails when one slips in.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const typedoc = join(repoRoot, "node_modules/typedoc/bin/typedoc");

/** Runs TypeDoc (checks only, no HTML), with the repository's typedoc.json unless `--options` says otherwise. */
function runTypedoc(extraArgs: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [typedoc, "--emit", "none", ...extraArgs], { cwd: repoRoot }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, output: stripVTControlCharacters(`${stdout}${stderr}`) });
    });
  });
}

describe("API reference", () => {
  it("builds from the TSDoc of every entry point without warnings", async () => {
    const { code, output } = await runTypedoc([]);
    expect(output).not.toMatch(/\[warning\]|\[error\]/);
    expect(code).toBe(0);
  }, 120_000);

  it("fails on an undocumented export", async () => {
    // The fixture's typedoc.json extends the repository's and only swaps the entry point.
    const { code, output } = await runTypedoc(["--options", "test/fixtures/undocumented-export/typedoc.json"]);
    expect(output).toContain("undocumented (Variable)");
    expect(output).toContain("does not have any documentation");
    expect(output).not.toContain("documented (Function)");
    expect(code).not.toBe(0);
  }, 120_000);
});

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const examples = join(root, "examples");

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

// These run the built programs (`tsc -b` first; `npm test` does).
describe("examples as a user runs them", () => {
  it("npm run demo's program runs end to end and exits 0", () => {
    const main = join(examples, "dist/reverse/main.js");
    expect(existsSync(main), "run `npx tsc -b` first").toBe(true);
    const stdout = execFileSync(process.execPath, [main], { encoding: "utf8", timeout: 30_000, stdio: "pipe" });
    expect(stdout).toContain("control → camera-3 GetStatus: firmware 1.9.0");
    expect(stdout).toContain("self-destruct: command not found (exit 127)");
    expect(stdout).toContain("control → toaster-1 GetStatus: UNAVAILABLE");
    expect(stdout.trimEnd().split("\n").at(-1)).toBe("agents disconnected, control server stopped");
  });

  it("the committed generated code is what examples/buf.gen.yaml produces", () => {
    const out = mkdtempSync(join(tmpdir(), "examples-gen-"));
    try {
      // Exactly what `npm run generate` does: plugins found on PATH by name.
      execFileSync(join(root, "node_modules/.bin/buf"), ["generate", "-o", out], {
        cwd: examples,
        stdio: "pipe",
        env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}` },
      });
      const committed = join(examples, "src/gen");
      const fresh = join(out, "src/gen");
      const names = filesUnder(committed)
        .map((p) => relative(committed, p))
        .sort();
      expect(
        filesUnder(fresh)
          .map((p) => relative(fresh, p))
          .sort(),
      ).toEqual(names);
      expect(names).toContain("agent/v1/agent_tunnel.ts");
      for (const name of names) {
        expect(readFileSync(join(fresh, name), "utf8"), name).toBe(readFileSync(join(committed, name), "utf8"));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
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

  it("npm run demo -- --status serves the control server's status page, prints its URL and stops on Ctrl-C", async () => {
    const main = join(examples, "dist/reverse/main.js");
    expect(existsSync(main), "run `npx tsc -b` first").toBe(true);
    const child = spawn(process.execPath, [main, "--status"], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = once(child, "exit");
    try {
      const lines: string[] = [];
      let url: string | undefined;
      for await (const line of createInterface({ input: child.stdout })) {
        lines.push(line);
        url ??= /^status page: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line)?.[1];
        if (line.startsWith("devices stay connected")) {
          break;
        }
      }
      expect(url, lines.join("\n")).toBeDefined();
      const snapshot = (await (await fetch(`${url}status.json`)).json()) as { reverse: Array<{ key: string }> };
      expect(snapshot.reverse.map((group) => group.key)).toEqual(["camera-3", "thermostat-7"]);
      const page = await (await fetch(url!)).text();
      expect(page).toContain('data-key="camera-3"');
      const rest: string[] = [];
      const reading = (async () => {
        for await (const line of createInterface({ input: child.stdout })) rest.push(line);
      })();
      child.kill("SIGINT");
      const [code] = await exited;
      await reading;
      expect(code).toBe(0);
      expect(rest.at(-1)).toBe("agents disconnected, control server stopped");
    } finally {
      child.kill("SIGKILL");
    }
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

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildImage, generatorRequest, packageDir, runTunnelPlugin, testProtoDir } from "./support/codegen.js";

// Golden files: what the plugin writes for the test protos. After an
// intended change to the output, regenerate them with
//   UPDATE_GOLDEN=1 npx vitest run protoc-gen-tunnel/test/golden.test.ts
// and review the diff.
const goldenDir = join(packageDir, "test/golden");
const update = process.env.UPDATE_GOLDEN === "1";
// The plugin version is elided so that a release does not change the files.
const parameter = "target=ts,import_extension=js,elide_plugin_version=true";

let generated: Map<string, string>;

beforeAll(() => {
  generated = runTunnelPlugin(generatorRequest(buildImage(testProtoDir), parameter));
  if (update) {
    for (const [name, content] of generated) {
      const path = join(goldenDir, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
});

function goldenFiles(dir: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? goldenFiles(path) : [relative(goldenDir, path)];
  });
}

describe("golden files", () => {
  it("generates exactly one _tunnel.ts per proto file with services", () => {
    expect([...generated.keys()].sort()).toEqual([
      "nopackage_tunnel.ts",
      "test/imports/v1/service_tunnel.ts",
      "test/kinds/v1/kinds_tunnel.ts",
      "test/reserved/reserved_tunnel.ts",
    ]);
    expect(goldenFiles(goldenDir).sort()).toEqual([...generated.keys()].sort());
  });

  for (const name of [
    "nopackage_tunnel.ts",
    "test/imports/v1/service_tunnel.ts",
    "test/kinds/v1/kinds_tunnel.ts",
    "test/reserved/reserved_tunnel.ts",
  ]) {
    it(`matches ${name}`, () => {
      const golden = readFileSync(join(goldenDir, name), "utf8");
      expect(generated.get(name)).toBe(golden);
    });
  }
});

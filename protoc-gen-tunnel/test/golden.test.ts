import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildImage, generatorRequest, packageDir, runTunnelPlugin, testProtoDir } from "./support/codegen.js";

// Golden files: what the plugin writes for the test protos, for each kind
// of output. After an intended change to the output, regenerate them with
//   UPDATE_GOLDEN=1 npx vitest run protoc-gen-tunnel/test/golden.test.ts
// and review the diff.
const update = process.env.UPDATE_GOLDEN === "1";
const protoFiles = ["nopackage", "test/imports/v1/service", "test/kinds/v1/kinds", "test/reserved/reserved"];

function goldenFiles(root: string, dir = root): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? goldenFiles(root, path) : [relative(root, path)];
  });
}

/**
 * The golden files in `folder` for one plugin parameter (the plugin version
 * is elided so that a release does not change the files), one per proto
 * file with services and `extensions` entry.
 */
function goldenSuite(title: string, folder: string, target: string, extensions: string[]): void {
  const goldenDir = join(packageDir, "test", folder);
  const expected = protoFiles.flatMap((name) => extensions.map((ext) => `${name}_tunnel${ext}`)).sort();
  let generated: Map<string, string>;

  describe(title, () => {
    beforeAll(() => {
      generated = runTunnelPlugin(generatorRequest(buildImage(testProtoDir), `${target},import_extension=js,elide_plugin_version=true`));
      if (update) {
        for (const [name, content] of generated) {
          const path = join(goldenDir, name);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, content);
        }
      }
    });

    it(`generates exactly ${extensions.map((ext) => `one _tunnel${ext}`).join(" and ")} per proto file with services`, () => {
      expect([...generated.keys()].sort()).toEqual(expected);
      expect(goldenFiles(goldenDir).sort()).toEqual(expected);
    });

    for (const name of expected) {
      it(`matches ${name}`, () => {
        const golden = readFileSync(join(goldenDir, name), "utf8");
        expect(generated.get(name)).toBe(golden);
      });
    }
  });
}

goldenSuite("golden files: TypeScript (target=ts)", "golden", "target=ts", [".ts"]);
// JavaScript and declarations are printed from the same templates as the
// TypeScript, not transpiled from it (see src/declarations.ts).
goldenSuite("golden files: JavaScript and declarations (target=js+dts)", "golden-js", "target=js+dts", [".d.ts", ".js"]);
goldenSuite("golden files: CommonJS (js_import_style=legacy_commonjs)", "golden-commonjs", "target=js,js_import_style=legacy_commonjs", [
  ".js",
]);

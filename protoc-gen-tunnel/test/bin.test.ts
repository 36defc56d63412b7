import { existsSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  buildImage,
  filesOf,
  generatorRequest,
  packageDir,
  pluginBin,
  runPluginBinary,
  runTunnelPlugin,
  testProtoDir,
} from "./support/codegen.js";

// The executable protoc and buf run. It loads the compiled plugin, so
// `tsc -b` must have run (npm test does).
describe("protoc-gen-tunnel executable", () => {
  it("is built", () => {
    expect(existsSync(join(packageDir, "dist/index.js")), "run `npx tsc -b` first").toBe(true);
  });

  it("answers a CodeGeneratorRequest on stdin like protoc expects", () => {
    const request = generatorRequest(buildImage(testProtoDir), "target=ts,import_extension=js");
    const response = runPluginBinary(pluginBin, [], request);
    expect(filesOf(response)).toEqual(runTunnelPlugin(request));
    // protoc must know the plugin handles proto3 optional and editions.
    expect(response.supportedFeatures).toBeGreaterThan(0n);
  });

  it("prints its version", () => {
    expect(execFileSync(pluginBin, ["--version"], { encoding: "utf8" })).toMatch(/^protoc-gen-tunnel v\d+\.\d+\.\d+\n$/);
  });

  it("fails with a message on a bad option", () => {
    const request = generatorRequest(buildImage(testProtoDir), "target=ts,bogus=1");
    let stderr = "";
    expect(() => {
      try {
        runPluginBinary(pluginBin, [], request);
      } catch (e) {
        stderr = String((e as { stderr?: Buffer }).stderr);
        throw e;
      }
    }).toThrow();
    expect(stderr).toContain("protoc-gen-tunnel:");
    expect(stderr).toContain("bogus");
  });
});

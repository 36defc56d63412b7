// The published declarations leave out what is marked @internal: both
// builds set stripInternal, and the declarations tsc -b wrote to
// runtime/dist (npm test builds first) have none of it. The packaging test
// checks the same in both builds of the packed tarball.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { runtimeConfig, runtimeDir } from "./support/runtime-config.js";

describe("declarations", () => {
  it("both builds strip members marked @internal", () => {
    expect(runtimeConfig("tsconfig.json").options.stripInternal).toBe(true);
    expect(runtimeConfig("tsconfig.cjs.json").options.stripInternal).toBe(true);
  });

  it("built by tsc -b, have no @internal member left: the handler's registration for adapters, the cluster seam's binding, the cluster's factory", () => {
    const dist = join(runtimeDir, "dist");
    const sourceOf = (file: string) => statSync(join(runtimeDir, "src", file.replace(/\.d\.ts$/, ".ts")), { throwIfNoEntry: false });
    // Declarations of sources that no longer exist are left-overs of an older build: not looked at.
    const files = declarationFiles(dist)
      .map((file) => relative(dist, file))
      .filter((file) => sourceOf(file) !== undefined);
    const declarations = new Map(files.map((file) => [file, readFileSync(join(dist, file), "utf8")]));
    expect(declarations.size).toBeGreaterThan(100);
    // (npm test runs tsc -b first; after editing sources alone, run it by hand.)
    const withInternal = [...declarations].filter(([, text]) => text.includes("@internal")).map(([file]) => file);
    expect(withInternal, "declarations in runtime/dist (built by `npx tsc -b`)").toEqual([]);

    const host = declarations.get("api/serve/service-host.d.ts") ?? "";
    expect(host).toContain("addService(");
    expect(host).not.toContain("registerHandlers");
    const seam = declarations.get("api/tunnels/replica-cluster.d.ts") ?? "";
    expect(seam).toContain("interface ReplicaCluster");
    expect(seam).not.toMatch(/attach|ClusterReplica|ClusterRouting/);
    const cluster = declarations.get("cluster/tunnel-cluster.d.ts") ?? "";
    expect(cluster).toContain("private constructor");
    expect(cluster).not.toMatch(/static create|attach\(/);
  });
});

/** The .d.ts files below `dir`, without the CommonJS build's copies (the packaging test checks the tarball's). */
function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      return entry.name === "cjs" ? [] : declarationFiles(path);
    }
    return entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src/", import.meta.url));

/** Every module a source file reaches through static imports, and the packages they import. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) {
      return;
    }
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const [, specifier] of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)";/gms)) {
      if (specifier!.startsWith(".")) {
        visit(resolve(dirname(file), specifier!.replace(/\.js$/, ".ts")));
      } else {
        packages.add(specifier!);
      }
    }
  };
  visit(resolve(src, entry));
  return { files, packages };
}

describe("optional dependencies load only with their entry points", () => {
  it("the main entry point reaches neither @opentelemetry nor the otel and status modules", () => {
    const { files, packages } = closure("index.ts");
    expect([...packages].filter((p) => p.startsWith("@opentelemetry/"))).toEqual([]);
    const optional = [resolve(src, "otel"), resolve(src, "status")];
    expect([...files].filter((f) => optional.some((dir) => f === `${dir}.ts` || f.startsWith(`${dir}/`)))).toEqual([]);
    expect(files.size).toBeGreaterThan(30); // the walk really followed the imports
  });

  it("the main entry point reaches neither redis nor cluster mode; the cluster entry point brings both", () => {
    const main = closure("index.ts");
    expect([...main.packages].filter((p) => p === "redis" || p.startsWith("@redis/"))).toEqual([]);
    expect([...main.files].filter((f) => f === resolve(src, "cluster.ts") || f.startsWith(`${resolve(src, "cluster")}/`))).toEqual([]);
    const cluster = closure("cluster.ts");
    expect(cluster.packages).toContain("redis");
    expect(cluster.files).toContain(resolve(src, "cluster/relay/relay-listener.ts"));
  });

  it("the fleet entry point (health, shutdown, admin endpoints) reaches neither redis, cluster mode nor OpenTelemetry", () => {
    const fleet = closure("fleet.ts");
    expect([...fleet.packages].filter((p) => p === "redis" || p.startsWith("@redis/") || p.startsWith("@opentelemetry/"))).toEqual([]);
    expect([...fleet.files].filter((f) => f.startsWith(`${resolve(src, "cluster")}/`))).toEqual([]);
    expect(fleet.files).toContain(resolve(src, "fleet/graceful-shutdown.ts"));
  });

  it("the status page needs no OpenTelemetry; the otel entry point needs only its API", () => {
    expect([...closure("status.ts").packages].filter((p) => p.startsWith("@opentelemetry/"))).toEqual([]);
    expect([...closure("otel.ts").packages].filter((p) => p.startsWith("@opentelemetry/"))).toEqual(["@opentelemetry/api"]);
  });

  it("the gateway has its own entry point: the main one does not reach it, and it needs neither redis, Connect nor OpenTelemetry", () => {
    const main = closure("index.ts");
    expect([...main.files].filter((f) => f === resolve(src, "gateway.ts") || f.startsWith(`${resolve(src, "gateway")}/`))).toEqual([]);
    const gateway = closure("gateway.ts");
    expect(gateway.files).toContain(resolve(src, "gateway/relay-to-agent.ts"));
    const optional = [...gateway.packages].filter((p) => p === "redis" || p.startsWith("@connectrpc/") || p.startsWith("@opentelemetry/"));
    expect(optional).toEqual([]);
  });
});

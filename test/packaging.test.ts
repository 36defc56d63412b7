// The newcomer's path, as a test: pack the published packages with the
// README's command, install the tarballs into fresh projects outside the
// repository with the README's commands, generate code with the README's
// buf.yaml and buf.gen.yaml, type-check the programs of the README and of
// the guides under docs/ it links to, under
// `tsc --init`'s strict settings with TypeScript 5.9 (the repository's) and
// the newest TypeScript (the project's), then run them and compare what they
// print with the docs (docs/generated-code.md adds src/fleet.ts: factory
// options, fan-out and the in-process test transport). Variants: an ES
// module project, a CommonJS project (require), JavaScript output (target=js+dts), and the oldest
// @bufbuild/protobuf and @grpc/grpc-js the runtime's peer ranges allow.
//
// npm prefers its cache; the first run on a machine downloads what is missing
// (PACKAGING_NPM_CACHE=<empty folder> runs as on a fresh machine).
// KEEP_PACKAGING_DIR=1 keeps the projects for inspection.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMAND_TIMEOUT_MS, engineWarnings, outsideEnv, runShell } from "./support/commands.js";
import { readSnippets, readSnippetsOf, replaceOrFail, snippet } from "./support/snippets.js";
import { STRICT_INIT_OPTIONS, UserProject } from "./support/user-project.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
/** What the README's walk-through and the guides it links to tell users to write and run. */
const readme = readSnippetsOf(
  [
    "README.md",
    "docs/calls-and-handlers.md",
    "docs/commonjs-and-javascript.md",
    "docs/connect-and-grpc-js.md",
    "docs/observability.md",
    "docs/generated-code.md",
  ].map((file) => join(repoRoot, file)),
);
const runtimePackage = JSON.parse(readFileSync(join(repoRoot, "runtime/package.json"), "utf8")) as {
  version: string;
  peerDependencies: Record<string, string>;
};

/** TypeScript the projects install, as `npm install typescript` does today (the native 7.x line). */
const NEWEST_TYPESCRIPT = "7.0.2";
const TYPES_NODE = "20.19.43";
/** Where the README packs to; the test substitutes its own folder. */
const README_PACK_DIR = "/tmp/tunnel-packages";

/** The lowest version a caret range allows ("^2.5.0" → "2.5.0"). */
function floor(range: string | undefined): string {
  const match = /^\^(\d+\.\d+\.\d+)$/.exec(range ?? "");
  if (match?.[1] === undefined) {
    throw new Error(`expected a caret range, got ${JSON.stringify(range)}`);
  }
  return match[1];
}
const LOWEST_PROTOBUF = floor(runtimePackage.peerDependencies["@bufbuild/protobuf"]);
const LOWEST_GRPC = floor(runtimePackage.peerDependencies["@grpc/grpc-js"]);

interface Variant {
  name: string;
  type: "module" | "commonjs";
  /** The README's buf.gen.yaml to use. */
  bufGen: string;
  /** README programs (snippet names, also their file names) and the snippet of what each prints. */
  programs: string[];
  /** Rewrites the README's install lines for this variant. */
  install?: (lines: string) => string;
  /** Further README install lines (e.g. Connect). */
  extraInstall?: string;
  /** npm must not warn EBADENGINE at all (versions that all support Node 20). */
  noEngineWarnings?: boolean;
  /** Checks of the generated and compiled files. */
  check?: (project: UserProject) => void;
}

const VARIANTS: Variant[] = [
  {
    name: "ES module project (target=ts)",
    type: "module",
    bufGen: "buf.gen.yaml",
    programs: ["src/forward.ts", "src/reverse.ts", "src/errors.ts", "src/connect.ts", "src/observe.ts", "src/fleet.ts"],
    extraInstall: `npm install @connectrpc/connect@2.2.0\n${snippet(readme, "install OpenTelemetry")}`,
  },
  {
    name: "CommonJS project using require (target=js+dts, js_import_style=legacy_commonjs)",
    type: "commonjs",
    bufGen: "buf.gen.yaml (CommonJS)",
    programs: ["src/main.ts (CommonJS)"],
    check: (project) => {
      expect(project.read("src/main.js")).toContain('require("@protoc-gen-tunnel/runtime")');
      expect(project.read("src/gen/greet/v1/greet_tunnel.js")).toMatch(
        /require\("@protoc-gen-tunnel\/runtime"\)|require\("\.\/greet_pb\.js"\)/,
      );
    },
  },
  {
    name: "JavaScript output (target=js+dts)",
    type: "module",
    bufGen: "buf.gen.yaml (JavaScript)",
    programs: ["src/forward.ts", "src/reverse.ts", "src/fleet.ts"],
    check: (project) => {
      expect(project.read("src/gen/greet/v1/greet_tunnel.d.ts")).toContain("GreetServiceTunnelClient");
      expect(project.read("src/gen/greet/v1/greet_tunnel.js")).toContain("GreetServiceTunnelClient");
    },
  },
  {
    name: `lowest supported @bufbuild/protobuf ${LOWEST_PROTOBUF} and @grpc/grpc-js ${LOWEST_GRPC}`,
    type: "module",
    bufGen: "buf.gen.yaml",
    programs: ["src/forward.ts", "src/reverse.ts", "src/errors.ts"],
    install: (lines) => {
      let out = replaceOrFail(lines, "@bufbuild/protobuf@2.17.0", `@bufbuild/protobuf@${LOWEST_PROTOBUF}`);
      out = replaceOrFail(out, "@bufbuild/protoc-gen-es@2.17.0", `@bufbuild/protoc-gen-es@${LOWEST_PROTOBUF}`);
      return replaceOrFail(out, "@grpc/grpc-js@1.14.7", `@grpc/grpc-js@${LOWEST_GRPC}`);
    },
    noEngineWarnings: true,
  },
];

/** The file a program snippet goes to: "src/main.ts (CommonJS)" → "src/main.ts". */
const fileOf = (name: string) => name.replace(/ \(.*\)$/, "");

let workDir: string;
let packDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "tunnel-packaging-"));
  // A folder that does not exist yet: the README's pack command must create it.
  packDir = join(workDir, "packages");
  await runShell(replaceOrFail(snippet(readme, "pack"), README_PACK_DIR, packDir), { cwd: repoRoot, env: outsideEnv(repoRoot) });
}, COMMAND_TIMEOUT_MS);

// Several projects' node_modules: removing them took over 30 s on a loaded machine.
afterAll(() => {
  if (workDir !== undefined && process.env.KEEP_PACKAGING_DIR === undefined) {
    rmSync(workDir, { recursive: true, force: true });
  }
}, COMMAND_TIMEOUT_MS);

/** The files of a tarball, without npm's "package/" prefix. */
function tarballFiles(name: string): string[] {
  return execFileSync("tar", ["-tzf", join(packDir, name)], { encoding: "utf8" })
    .split("\n")
    .filter((f) => f !== "")
    .map((f) => f.replace(/^package\//, ""));
}

describe("published packages", () => {
  it("the README's install line names exactly the packages its tarball line installs", () => {
    const fromTarballs = snippet(readme, "install from tarballs")
      .replace(`${README_PACK_DIR}/protoc-gen-tunnel-runtime-${runtimePackage.version}.tgz`, "@protoc-gen-tunnel/runtime")
      .replace(`${README_PACK_DIR}/protoc-gen-tunnel-${runtimePackage.version}.tgz`, "protoc-gen-tunnel");
    expect(snippet(readme, "install")).toBe(fromTarballs);
  });

  it("have READMEs whose snippets are the tested ones of the project README, verbatim", () => {
    for (const readmePath of ["runtime/README.md", "protoc-gen-tunnel/README.md"]) {
      const quoted = readSnippets(join(repoRoot, readmePath));
      expect(quoted.size, readmePath).toBeGreaterThan(0);
      for (const [name, text] of quoted) {
        expect(text, `${readmePath}: snippet "${name}"`).toBe(snippet(readme, name));
      }
    }
  });

  it("carry a README, a LICENSE, both runtime builds with their declarations, and no sources or tests", () => {
    const runtime = tarballFiles(`protoc-gen-tunnel-runtime-${runtimePackage.version}.tgz`);
    for (const file of ["README.md", "LICENSE", "package.json", "dist/index.js", "dist/index.d.ts", "dist/cjs/package.json"]) {
      expect(runtime).toContain(file);
    }
    for (const entry of ["index", "protocol", "connect", "errordetails", "tunnelpb", "cluster", "otel", "status", "testing", "fleet"]) {
      expect(runtime).toContain(`dist/${entry}.js`);
      expect(runtime).toContain(`dist/cjs/${entry}.js`);
      expect(runtime).toContain(`dist/cjs/${entry}.d.ts`);
    }
    expect(runtime.filter((f) => f.startsWith("src/") || f.includes(".test.") || f.startsWith("scripts/"))).toEqual([]);
    // Both builds' declarations leave out what is marked @internal (stripInternal).
    const declarations = runtime.filter((f) => f.endsWith(".d.ts"));
    expect(declarations.filter((f) => f.startsWith("dist/cjs/")).length).toBeGreaterThan(100);
    const text = execFileSync(
      "tar",
      ["-xzOf", join(packDir, `protoc-gen-tunnel-runtime-${runtimePackage.version}.tgz`), ...declarations.map((f) => `package/${f}`)],
      { encoding: "utf8", maxBuffer: 64 << 20 },
    );
    expect(text).toContain("interface ReplicaCluster");
    expect(text).not.toContain("@internal");

    const plugin = tarballFiles(`protoc-gen-tunnel-${runtimePackage.version}.tgz`);
    for (const file of ["README.md", "LICENSE", "package.json", "bin/protoc-gen-tunnel", "dist/index.js"]) {
      expect(plugin).toContain(file);
    }
    expect(plugin.filter((f) => f.startsWith("src/") || f.startsWith("test/"))).toEqual([]);
  });

  it("share the project's @bufbuild/protobuf and @grpc/grpc-js: peer dependencies, not dependencies", () => {
    const packed = JSON.parse(
      execFileSync("tar", ["-xzOf", join(packDir, `protoc-gen-tunnel-runtime-${runtimePackage.version}.tgz`), "package/package.json"], {
        encoding: "utf8",
      }),
    ) as {
      dependencies?: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    expect(packed.dependencies ?? {}).toEqual({});
    expect(Object.keys(packed.peerDependencies).sort()).toEqual([
      "@bufbuild/protobuf",
      "@connectrpc/connect",
      "@grpc/grpc-js",
      "@opentelemetry/api",
      "redis",
    ]);
    // Only the /connect, /cluster and /otel entry points need these three.
    const optional = Object.entries(packed.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional === true);
    expect(optional.map(([name]) => name).sort()).toEqual(["@connectrpc/connect", "@opentelemetry/api", "redis"]);
  });
});

describe.concurrent("a new project following the README", () => {
  // Each variant runs about ten commands; installing may download (see COMMAND_TIMEOUT_MS).
  it.for(VARIANTS)("$name", { timeout: 3 * COMMAND_TIMEOUT_MS }, async (variant) => {
    const project = new UserProject(join(workDir, variant.name.replace(/\W+/g, "-")), repoRoot);
    project.init("greeter", variant.type);

    // Install: the README's lines (with this run's tarballs), then TypeScript.
    let lines = replaceOrFail(snippet(readme, "install from tarballs"), README_PACK_DIR, packDir);
    lines = variant.install ? variant.install(lines) : lines;
    const installed = await project.shell(`${lines}${variant.extraInstall ?? ""}`);
    await project.shell(`npm install --save-dev typescript@${NEWEST_TYPESCRIPT} @types/node@${TYPES_NODE}`);
    // Our packages run on Node 20: npm may only warn about protoc-gen-es (2.14+ declares Node 22).
    const warned = engineWarnings(installed.stderr);
    expect(warned.filter((pkg) => !pkg.startsWith("@bufbuild/protoc-gen-es@"))).toEqual([]);
    if (variant.noEngineWarnings) {
      expect(warned).toEqual([]);
    }

    // Generate: the README's protos and buf configuration, `npx buf generate`.
    for (const file of ["proto/greet/v1/greet.proto", "buf.yaml"]) {
      project.write(file, snippet(readme, file));
    }
    project.write("buf.gen.yaml", snippet(readme, variant.bufGen));
    await project.shell("npx buf generate");

    // Type-check under tsc --init's strict settings with TypeScript 5.9 and the newest.
    for (const program of variant.programs) {
      project.write(fileOf(program), snippet(readme, program));
    }
    await project.tscInit();
    expect(await project.compilerOptions()).toMatchObject(STRICT_INIT_OPTIONS);
    expect((await project.shell("npx tsc --version")).stdout).toContain(`Version ${NEWEST_TYPESCRIPT}`);
    await project.typecheckWithRepoTypeScript();
    await project.compile();
    variant.check?.(project);

    // Run: each program prints what the README says it prints.
    for (const program of variant.programs) {
      const output = await project.node(fileOf(program).replace(/\.ts$/, ".js"));
      expect(output, program).toBe(snippet(readme, `output of ${program}`));
    }
  });
});

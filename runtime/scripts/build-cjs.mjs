// Builds dist/cjs, the CommonJS twin of the ES module build in dist/, for
// `require("@protoc-gen-tunnel/runtime")`. Runs after `tsc -b` (which
// type-checks and writes dist/): every source file is transpiled on its own
// to CommonJS, and the declarations are copied next to it. Inside dist/cjs
// (marked "type": "commonjs") those declarations describe CommonJS modules,
// so TypeScript resolves their `@bufbuild/protobuf` imports to the same
// CommonJS copy a CommonJS project uses; one ES module build alone would
// type its protobuf imports from the ESM copy, which TypeScript treats as
// different types.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const srcDir = join(packageDir, "src");
const esmDir = join(packageDir, "dist");
const cjsDir = join(esmDir, "cjs");

if (!existsSync(join(esmDir, "index.d.ts"))) {
  console.error("build-cjs: dist/index.d.ts is missing; run `tsc -b` first");
  process.exit(1);
}

/** Files below `dir` (recursively) whose name passes `keep`. */
function filesIn(dir, keep, skip = new Set()) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.has(path)) {
        found.push(...filesIn(path, keep, skip));
      }
    } else if (keep(entry.name)) {
      found.push(path);
    }
  }
  return found;
}

function write(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

rmSync(cjsDir, { recursive: true, force: true });
const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: false,
  isolatedModules: true,
  verbatimModuleSyntax: false,
};
const sources = filesIn(srcDir, (name) => name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".test.ts"));
for (const file of sources) {
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, "utf8"), {
    compilerOptions,
    fileName: file,
    reportDiagnostics: true,
  });
  if (diagnostics?.length) {
    console.error(ts.formatDiagnostics(diagnostics, ts.createCompilerHost({})));
    process.exit(1);
  }
  write(join(cjsDir, relative(srcDir, file).replace(/\.ts$/, ".js")), outputText);
}
const declarations = filesIn(esmDir, (name) => name.endsWith(".d.ts"), new Set([cjsDir]));
for (const file of declarations) {
  // The source maps of the declarations stay with the ES module build.
  const text = readFileSync(file, "utf8").replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
  write(join(cjsDir, relative(esmDir, file)), text);
}
write(join(cjsDir, "package.json"), `${JSON.stringify({ type: "commonjs" }, null, 2)}\n`);
console.log(`build-cjs: ${sources.length} modules and ${declarations.length} declarations in ${relative(process.cwd(), cjsDir) || "."}`);

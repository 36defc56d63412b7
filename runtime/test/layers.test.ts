// The layer rule of docs/architecture.md, checked on the real import graph:
// the layers are read from the table in that file (its first code block),
// the imports from every source file by TypeScript's own pre-processor
// (static, type-only, re-exports and dynamic `import()` alike).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../src/", import.meta.url));
const architecture = fileURLToPath(new URL("../../docs/architecture.md", import.meta.url));

/** A top-level folder ("api/") or file ("code.ts") of runtime/src, and the layer it belongs to (0: lowest). */
interface Layer {
  name: string;
  rank: number;
  members: string[];
}

/**
 * The layers of the table, lowest last in the file: each line that starts
 * in the first column names a layer, indented lines continue it. A layer's
 * folders and files are the names before its first colon, outside
 * parentheses, separated by commas.
 */
function parseLayers(markdown: string): Layer[] {
  const block = /^```\n([\s\S]*?)\n```/m.exec(markdown)?.[1];
  if (block === undefined) {
    throw new Error("docs/architecture.md has no code block with the layer table");
  }
  const rows: { name: string; text: string }[] = [];
  for (const line of block.split("\n")) {
    const head = /^(\S+)\s+(.*)$/.exec(line);
    if (head !== null) {
      rows.push({ name: head[1]!, text: head[2]! });
    } else if (rows.length > 0) {
      rows[rows.length - 1]!.text += ` ${line.trim()}`;
    }
  }
  return rows.reverse().map(({ name, text }, rank) => {
    let plain = text;
    for (let before = ""; before !== plain; ) {
      before = plain;
      plain = plain.replace(/\([^()]*\)/g, "");
    }
    const members = plain
      .split(":")[0]!
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
    for (const member of members) {
      if (!/^[\w-]+(\/|\.ts)$/.test(member)) {
        throw new Error(`layer ${name}: "${member}" is not a folder ("name/") or a file ("name.ts") of runtime/src`);
      }
    }
    return { name, rank, members };
  });
}

/** Every TypeScript source file below `dir` (tests excluded). */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      return sourceFiles(path);
    }
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The runtime's own modules `file` imports, as absolute paths of their sources. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
}

/** The top-level folder ("api/") or file ("index.ts") of runtime/src that holds `file`. */
function topLevel(file: string): string {
  const [first, ...rest] = relative(src, file).split("/");
  return rest.length > 0 ? `${first}/` : first!;
}

const layers = parseLayers(readFileSync(architecture, "utf8"));
const layerOf = new Map(layers.flatMap((layer) => layer.members.map((member) => [member, layer] as const)));
/** The entry points: the files of runtime/src/ that package.json exports. */
const entryPoints = new Set(
  Object.values(JSON.parse(readFileSync(join(src, "../package.json"), "utf8")).exports as Record<string, unknown>)
    .flatMap((target) => JSON.stringify(target).match(/\.\/dist\/(?!cjs\/)[\w-]+\.js/g) ?? [])
    .map((path) => path.replace("./dist/", "").replace(/\.js$/, ".ts")),
);
const files = sourceFiles(src);
const graph = files.map((file) => ({ file, imports: importsOf(file) }));

describe("the layer table of docs/architecture.md", () => {
  it("names every top-level folder and file of runtime/src except the entry points, each once, and nothing else", () => {
    const tops = new Set(files.map(topLevel));
    const unplaced = [...tops].filter((top) => !layerOf.has(top) && !entryPoints.has(top));
    expect(unplaced, "add these to the table in docs/architecture.md").toEqual([]);
    const missing = [...layerOf.keys()].filter((member) => !tops.has(member));
    expect(missing, "the table names what runtime/src does not have").toEqual([]);
    const named = layers.flatMap((layer) => layer.members);
    expect(named.length).toBe(new Set(named).size);
    expect(entryPoints).toContain("index.ts");
    expect(layers.map((layer) => layer.name)).toEqual(["(shared)", "protocol", "engine", "transport", "api", "cluster", "adapters"]);
  });

  it("parsing: parentheses, descriptions after a colon and continuation lines name no folder", () => {
    const parsed = parseLayers("x\n```\nupper  a/ (b/, c/), d.ts: e/, f/\n       g/ (h/)\nlower  i/: j/\n```\n");
    expect(parsed).toEqual([
      { name: "lower", rank: 0, members: ["i/"] },
      { name: "upper", rank: 1, members: ["a/", "d.ts"] },
    ]);
    expect(() => parseLayers("```\nlayer  not a folder\n```\n")).toThrow(/not a folder/);
  });
});

describe("imports follow the layers", () => {
  it("reads the real graph: every import resolves to a source file", () => {
    const dangling = graph.flatMap(({ file, imports }) =>
      imports.filter((target) => !existsSync(target)).map((target) => `${relative(src, file)} → ${relative(src, target)}`),
    );
    expect(dangling).toEqual([]);
    expect(graph.reduce((sum, { imports }) => sum + imports.length, 0)).toBeGreaterThan(300);
  });

  it("each module imports only from its own layer or those below it; only entry points import from anywhere", () => {
    const upward: string[] = [];
    for (const { file, imports } of graph) {
      const from = layerOf.get(topLevel(file));
      if (from === undefined) {
        continue; // an entry point
      }
      for (const target of imports) {
        const to = layerOf.get(topLevel(target));
        if (to === undefined || to.rank > from.rank) {
          upward.push(`${relative(src, file)} (${from.name}) → ${relative(src, target)} (${to?.name ?? "an entry point"})`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it("a folder with an index.ts is imported from outside only through it, and never through it from inside", () => {
    const indexed = files.filter((file) => file.endsWith("/index.ts")).map((file) => dirname(file));
    expect(indexed.length).toBeGreaterThan(5);
    const within = (path: string, folder: string) => path.startsWith(`${folder}/`);
    const wrong: string[] = [];
    for (const { file, imports } of graph) {
      for (const target of imports) {
        // The outermost such folder is the one the import enters.
        const entered = indexed.filter((folder) => within(target, folder) && !within(file, folder)).sort((a, b) => a.length - b.length)[0];
        if (entered !== undefined && target !== join(entered, "index.ts")) {
          wrong.push(`${relative(src, file)} → ${relative(src, target)} (import ${relative(src, entered)}/index.js)`);
        }
        if (target.endsWith("/index.ts") && file !== target && within(file, dirname(target))) {
          wrong.push(`${relative(src, file)} → ${relative(src, target)} (its own folder's index: import the file itself)`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

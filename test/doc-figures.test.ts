// Figures quoted in the docs come from the bench results: each marked block
// is what scripts/doc-figures.mjs writes from bench/results/latest.json, and
// no measured figure appears outside one.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { blocksOf, documents, readResults, renderBlock, rewriteBlocks, strayFigures } from "../scripts/doc-figures.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const results = readResults(root);

describe("figures in the docs", () => {
  const files = documents(root).map((file) => ({ file, text: readFileSync(join(root, file), "utf8") }));

  it("each bench block matches bench/results/latest.json (after a bench run: npm run docs:figures)", () => {
    const blocks = files.flatMap(({ file, text }) => blocksOf(text).map((block) => ({ file, ...block })));
    expect(new Set(blocks.map((b) => b.name))).toEqual(new Set(["run", "ratios-table", "serializer-control", "instrumentation", "relay"]));
    for (const { file, name, text } of blocks) {
      expect(text, `${file}: block ${name}`).toBe(renderBlock(name, results));
    }
  });

  it("no measured figure stands outside a block", () => {
    for (const { file, text } of files) {
      expect(strayFigures(text), file).toEqual([]);
    }
  });

  it("a block follows the results: other medians give other text, and a missing figure is an error", () => {
    const changed = structuredClone(results) as {
      workloads: { id: string; figures: { id: string; variants: Record<string, { median: number }> }[] }[];
    };
    const relay = changed.workloads.find((w) => w.id === "relay-unary")!;
    relay.figures.find((f) => f.id === "p50-relayed")!.variants.rev1!.median = 9.876;
    expect(renderBlock("relay", changed)).toContain("took 9.88 ms relayed");
    expect(renderBlock("relay", results)).not.toContain("9.88 ms");
    relay.figures = relay.figures.filter((f) => f.id !== "p50-local");
    expect(() => renderBlock("relay", changed)).toThrow(/relay-unary\/p50-local/);
    expect(() => renderBlock("no-such-block", results)).toThrow(/no bench block/);
  });

  it("rewriting replaces a block's text and nothing around it; a stray figure is found, one in a block or code is not", () => {
    const markdown = "before 1.25×\n<!-- bench: run -->\nold 0.50×\n<!-- /bench -->\nafter\n```\n3.5 ms\n```\n";
    const rewritten = rewriteBlocks(markdown, results);
    expect(rewritten).toBe(
      `before 1.25×\n<!-- bench: run -->\n${renderBlock("run", results)}<!-- /bench -->\nafter\n\`\`\`\n3.5 ms\n\`\`\`\n`,
    );
    expect(strayFigures(markdown)).toEqual(["1.25×"]);
  });
});

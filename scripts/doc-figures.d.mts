/** bench/results/latest.json, as far as the docs read it. */
export type BenchResults = Record<string, unknown>;

/** The Markdown files whose bench blocks are kept current (README.md, docs/*.md), relative to `root`. */
export declare function documents(root: string): string[];

/** The text of the bench block `name` for `results`; throws for an unknown name or a figure the results lack. */
export declare function renderBlock(name: string, results: BenchResults): string;

/** `markdown` with every bench block rewritten from `results`. */
export declare function rewriteBlocks(markdown: string, results: BenchResults): string;

/** The bench blocks of `markdown`, with their current text. */
export declare function blocksOf(markdown: string): { name: string; text: string }[];

/** Measured-looking figures (a decimal followed by ×, ms or µs) outside bench blocks and code blocks. */
export declare function strayFigures(markdown: string): string[];

/** bench/results/latest.json below `root`. */
export declare function readResults(root: string): BenchResults;

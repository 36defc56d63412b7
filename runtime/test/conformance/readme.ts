import { readFileSync } from "node:fs";

/** The rows (id, misbehaviour, expected) of one table in this suite's README. */
export function readmeRows(section: string): string[][] {
  const readme = readFileSync(new URL("./README.md", import.meta.url), "utf8");
  const start = readme.indexOf(`## ${section}`);
  if (start < 0) {
    throw new Error(`README has no section "${section}"`);
  }
  const end = readme.indexOf("\n## ", start + 1);
  return readme
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((line) => /^\| [SC]\d\d \|/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(" | ")
        .map((cell) => cell.trim()),
    );
}

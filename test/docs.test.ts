// The README stays a README (a walk-through and links; the manual is the
// guides under docs/), and every relative link of the docs leads somewhere:
// to a file of the repository and, with a #fragment, to one of its headings.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The most lines README.md may have. */
const README_LINES = 250;

/** The Markdown files users read: the root ones, docs/, and the packages' and examples' READMEs. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => join("docs", name));
  const top = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"];
  const packages = ["runtime/README.md", "protoc-gen-tunnel/README.md", "examples/README.md", "bench/README.md"];
  return [...top, ...docs, ...packages].filter((file) => existsSync(join(root, file)));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings (outside code blocks). */
function anchorsOf(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...prose.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading!)));
}

/** Relative links of a Markdown file (outside code blocks): target path and fragment. */
function linksOf(markdown: string): { target: string; fragment: string | undefined }[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map(([, link]) => link!)
    .filter((link) => !/^[a-z]+:/.test(link))
    .map((link) => {
      const [target, fragment] = link.split("#");
      return { target: target!, fragment };
    });
}

describe("docs", () => {
  it(`README.md has at most ${README_LINES} lines`, () => {
    const lines = readFileSync(join(root, "README.md"), "utf8").split("\n");
    expect(lines.at(-1)).toBe(""); // ends with a newline
    expect(lines.length - 1).toBeLessThanOrEqual(README_LINES);
  });

  it("every relative link leads to a file of the repository, and to a heading of it when it names one", () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const markdown = readFileSync(join(root, file), "utf8");
      for (const { target, fragment } of linksOf(markdown)) {
        const path = target === "" ? join(root, file) : join(root, dirname(file), target);
        if (!existsSync(path)) {
          broken.push(`${file}: ${target} does not exist`);
          continue;
        }
        if (fragment !== undefined && path.endsWith(".md") && statSync(path).isFile()) {
          if (!anchorsOf(readFileSync(path, "utf8")).has(fragment)) {
            broken.push(`${file}: ${relative(root, path)} has no heading #${fragment}`);
          }
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("anchors are made as GitHub makes them", () => {
    expect(anchorOf("Rolling deploys: drain")).toBe("rolling-deploys-drain");
    expect(anchorOf("What happens when…")).toBe("what-happens-when");
    expect(anchorOf("Connect-ES: clients and services")).toBe("connect-es-clients-and-services");
    expect(anchorOf("`npm run bench`, and why")).toBe("npm-run-bench-and-why");
    expect([...anchorsOf("# A\n```\n# not a heading\n```\n## B c\n")]).toEqual(["a", "b-c"]);
  });
});

import { readFileSync } from "node:fs";

/**
 * The code blocks of a Markdown file that follow a `<!-- snippet: NAME -->`
 * marker, by name: what the docs tell users to paste, extracted so that
 * tests run exactly that.
 */
export function readSnippets(path: string): Map<string, string> {
  const markdown = readFileSync(path, "utf8");
  const snippets = new Map<string, string>();
  const marker = /<!-- snippet: (.+?) -->\s*\n```[\w-]*\n([\s\S]*?)\n```/g;
  for (const [, name, body] of markdown.matchAll(marker)) {
    if (name === undefined || body === undefined) {
      continue;
    }
    if (snippets.has(name)) {
      throw new Error(`${path}: two snippets named "${name}"`);
    }
    snippets.set(name, `${body}\n`);
  }
  const markers = markdown.match(/<!-- snippet: /g)?.length ?? 0;
  if (markers !== snippets.size) {
    throw new Error(`${path}: ${markers} snippet markers, but only ${snippets.size} are followed by a code block`);
  }
  return snippets;
}

/**
 * The snippets of several Markdown files together (the README and the
 * guides under docs/ it links to); a name used in two files is an error.
 */
export function readSnippetsOf(paths: string[]): Map<string, string> {
  const all = new Map<string, string>();
  const from = new Map<string, string>();
  for (const path of paths) {
    for (const [name, text] of readSnippets(path)) {
      if (all.has(name)) {
        throw new Error(`snippet "${name}" is in both ${from.get(name)} and ${path}`);
      }
      all.set(name, text);
      from.set(name, path);
    }
  }
  return all;
}

/** The snippet `name`; fails naming the file when it is missing. */
export function snippet(snippets: Map<string, string>, name: string): string {
  const text = snippets.get(name);
  if (text === undefined) {
    throw new Error(`no snippet "${name}" (a <!-- snippet: ${name} --> marker before a code block)`);
  }
  return text;
}

/** `text` with `from` replaced by `to`; fails if `from` does not occur (the docs changed). */
export function replaceOrFail(text: string, from: string, to: string): string {
  if (!text.includes(from)) {
    throw new Error(`expected ${JSON.stringify(from)} in:\n${text}`);
  }
  return text.split(from).join(to);
}

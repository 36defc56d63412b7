import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { outsideEnv, run, runShell, type Output } from "./commands.js";
import { replaceOrFail } from "./snippets.js";

/** The TypeScript of the repository (5.9), to type-check projects outside it. */
export function repoTsc(repoRoot: string): string {
  return join(repoRoot, "node_modules/typescript/bin/tsc");
}

/** Compiler options that `tsc --init` must have set, as `tsc --showConfig` reports them. */
export const STRICT_INIT_OPTIONS = {
  module: "nodenext",
  strict: true,
  exactOptionalPropertyTypes: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  types: ["node"],
} as const;

/** A fresh npm project outside the repository, set up the way a user does it. */
export class UserProject {
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly dir: string,
    private readonly repoRoot: string,
  ) {
    this.env = outsideEnv(repoRoot);
  }

  /** An empty package (`npm init` style) of the given module type. */
  init(name: string, type: "module" | "commonjs"): void {
    mkdirSync(this.dir, { recursive: true });
    this.write("package.json", `${JSON.stringify({ name, version: "1.0.0", private: true, type }, null, 2)}\n`);
  }

  write(file: string, content: string): void {
    const path = join(this.dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }

  read(file: string): string {
    return readFileSync(join(this.dir, file), "utf8");
  }

  /** Runs shell lines (e.g. the README's) in the project. */
  shell(script: string): Promise<Output> {
    return runShell(script, { cwd: this.dir, env: this.env });
  }

  run(file: string, args: string[]): Promise<Output> {
    return run(file, args, { cwd: this.dir, env: this.env });
  }

  /**
   * `npx tsc --init` with the project's TypeScript, then its "For nodejs"
   * lines switched on, as the README says: `"lib": ["esnext"]` and
   * `"types": ["node"]` instead of `"types": []`.
   */
  async tscInit(): Promise<void> {
    await this.shell("npx tsc --init");
    const config = this.read("tsconfig.json");
    this.write("tsconfig.json", replaceOrFail(config, '"types": [],', '"lib": ["esnext"],\n    "types": ["node"],'));
  }

  /** The effective compiler options, from the repository's TypeScript. */
  async compilerOptions(): Promise<Record<string, unknown>> {
    const { stdout } = await this.run(process.execPath, [repoTsc(this.repoRoot), "--showConfig", "-p", "."]);
    return (JSON.parse(stdout) as { compilerOptions: Record<string, unknown> }).compilerOptions;
  }

  /** Type-checks with the repository's TypeScript 5.9 (no output). */
  typecheckWithRepoTypeScript(): Promise<Output> {
    return this.run(process.execPath, [repoTsc(this.repoRoot), "-p", ".", "--noEmit"]);
  }

  /** `npx tsc`: the project's own TypeScript (the newest) type-checks and compiles in place. */
  compile(): Promise<Output> {
    return this.shell("npx tsc -p .");
  }

  /** Runs a compiled program with node; resolves with what it printed. */
  async node(file: string): Promise<string> {
    return (await this.run(process.execPath, [file])).stdout;
  }
}

import { join } from "node:path";
import { Project, ts, type Diagnostic, type SourceFile } from "ts-morph";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildImage,
  generatorRequest,
  filesOf,
  protocGenEsBin,
  repoRoot,
  runPluginBinary,
  runTunnelPlugin,
  scratchDir,
  testProtoDir,
  writeFiles,
} from "./support/codegen.js";
import { implEquality, implEqualityNames } from "./types/impl-equality.js";
import { invalidUsage } from "./types/invalid-usage.js";
import { validUsage } from "./types/valid-usage.js";

// Compiles protoc-es + protoc-gen-tunnel output for the test protos, plus
// user code, under strict settings (stricter than most projects use), then
// checks the inferred types and that mistakes are compile errors. Once for
// TypeScript output, once for declaration files (target=js+dts), which
// must type user code exactly as the TypeScript does.
describe.each(["ts", "js+dts"] as const)("generated code under strict TypeScript (target=%s)", (target) => {
  const scratch = scratchDir("types");
  let project: Project;
  let generatedFiles: SourceFile[];

  beforeAll(() => {
    const request = generatorRequest(buildImage(testProtoDir), `target=${target},import_extension=js`);
    writeFiles(scratch.path, filesOf(runPluginBinary(protocGenEsBin, [], request)));
    const tunnelFiles = runTunnelPlugin(request);
    writeFiles(scratch.path, tunnelFiles);
    writeFiles(
      scratch.path,
      new Map([
        ["valid.ts", validUsage],
        ["invalid.ts", invalidUsage],
        ["impl-equality.ts", implEquality],
      ]),
    );
    project = new Project({
      skipAddingFilesFromTsConfig: true,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noImplicitOverride: true,
        noImplicitReturns: true,
        noPropertyAccessFromIndexSignature: true,
        noUnusedLocals: true,
        noUnusedParameters: true,
        verbatimModuleSyntax: true,
        isolatedModules: true,
        erasableSyntaxOnly: true,
        // Declaration files are only checked without skipLibCheck.
        skipLibCheck: target === "ts",
        noEmit: true,
        types: [],
        // Like the root vitest config: the runtime from source, no build needed.
        paths: { "@protoc-gen-tunnel/runtime": [join(repoRoot, "runtime/src/index.ts")] },
      },
    });
    project.addSourceFilesAtPaths(join(scratch.path, "**/*.ts"));
    generatedFiles = [...tunnelFiles.keys()]
      .filter((name) => name.endsWith(".ts"))
      .map((name) => project.getSourceFileOrThrow(join(scratch.path, name)));
  }, 60_000);

  afterAll(() => scratch.remove());

  function diagnosticsOf(file: SourceFile): Diagnostic[] {
    return project.getPreEmitDiagnostics().filter((d) => d.getSourceFile()?.getFilePath() === file.getFilePath());
  }

  function describeDiagnostic(d: Diagnostic): string {
    const message = d.getMessageText();
    const text = typeof message === "string" ? message : message.getMessageText();
    return `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()} TS${d.getCode()} ${text}`;
  }

  // The first check type-checks the runtime's sources too (through `paths`): the slow one.
  it("compiles without errors, together with user code", { timeout: 120_000 }, () => {
    const files = [...generatedFiles, project.getSourceFileOrThrow(join(scratch.path, "valid.ts"))];
    expect(files.flatMap(diagnosticsOf).map(describeDiagnostic)).toEqual([]);
    expect(generatedFiles).toHaveLength(4);
  });

  it("infers client method types from the proto", () => {
    const valid = project.getSourceFileOrThrow(join(scratch.path, "valid.ts"));
    const typeOf = (name: string) => {
      const decl = valid.getVariableDeclarationOrThrow(name);
      return decl.getType().getText(decl);
    };
    expect(typeOf("unaryResult")).toBe("Promise<EchoResponse>");
    expect(typeOf("unaryFromMessage")).toBe("Promise<EchoResponse>");
    expect(typeOf("serverStreamResult")).toBe("AsyncIterable<EchoResponse>");
    expect(typeOf("clientStreamResult")).toBe("Promise<EchoResponse>");
    expect(typeOf("bidiResult")).toBe("AsyncIterable<EchoResponse>");
    expect(typeOf("forKey")).toBe("EchoServiceTunnelClient");
    expect(typeOf("roundRobin")).toBe("EchoServiceTunnelClient");
    expect(typeOf("deprecatedName")).toBe("EchoServiceTunnelClient");
    expect(typeOf("withOptions")).toBe("EchoServiceTunnelClient");
    // BidiStream<request init shape, response>: the checker prints the init shape by its definition.
    expect(typeOf("chatStream")).toMatch(
      /^import\("@protoc-gen-tunnel\/runtime"\)\.BidiStream<EchoRequest \| \{ .*text\?: string; count\?: number; \}, EchoResponse>$/,
    );
    expect(typeOf("chatSent")).toBe("Promise<void>");
    expect(typeOf("chatHeaders")).toMatch(/^Promise<(import\("@grpc\/grpc-js"\)\.)?Metadata>$/);
    expect(typeOf("fanOut")).toMatch(/^AsyncIterable<(import\("@protoc-gen-tunnel\/runtime"\)\.)?AgentResult<string, EchoResponse>>$/);
    expect(typeOf("fanOutKeys")).toMatch(/^AsyncIterable<(import\("@protoc-gen-tunnel\/runtime"\)\.)?AgentResult<string, number>>$/);
    // The checker prints google.protobuf.Empty by its definition, Message<...>.
    expect(typeOf("wktResult")).toMatch(/^Promise<import\("@bufbuild\/protobuf"\)\.Message<"google\.protobuf\.Empty">>$/);
    expect(typeOf("wrapperResult")).toBe("Promise<StringValue>");
    expect(typeOf("newResult")).toMatch(/^AsyncIterable<import\("@bufbuild\/protobuf"\)\.Message<"test\.reserved\.Empty">>$/);
    // No `then` method: awaiting a client yields the client, not a call.
    expect(typeOf("awaitedClient")).toBe("Promise<interfaceTunnelClient>");
    expect(typeOf("globalsResult")).toMatch(/^Promise<import\("@bufbuild\/protobuf"\)\.Message<"test\.reserved\.AsyncIterable">>$/);
    expect(typeOf("globalsStream")).toMatch(/^AsyncIterable<import\("@bufbuild\/protobuf"\)\.Message<"test\.reserved\.Promise">>$/);
  });

  it("infers handler parameter types per method kind", () => {
    const valid = project.getSourceFileOrThrow(join(scratch.path, "valid.ts"));
    const paramType = (name: string) => {
      const param = valid.getDescendantsOfKind(ts.SyntaxKind.Parameter).find((p) => p.getName() === name);
      if (param === undefined) {
        throw new Error(`no parameter ${name}`);
      }
      return param.getType().getText(param);
    };
    expect(paramType("unaryRequest")).toBe("EchoRequest");
    expect(paramType("unaryContext")).toBe("HandlerContext");
    expect(paramType("serverStreamRequest")).toBe("EchoRequest");
    expect(paramType("serverStreamContext")).toBe("HandlerContext");
    expect(paramType("clientStreamRequests")).toBe("AsyncIterable<EchoRequest>");
    expect(paramType("bidiRequests")).toBe("AsyncIterable<EchoRequest>");
  });

  it("declares every FooImpl exactly as the runtime's ServiceImpl<typeof Foo>", () => {
    const file = project.getSourceFileOrThrow(join(scratch.path, "impl-equality.ts"));
    expect(diagnosticsOf(file).map(describeDiagnostic)).toEqual([]);
    const types = implEqualityNames.map((name) => {
      const decl = file.getVariableDeclarationOrThrow(name);
      return [name, decl.getType().getText(decl)];
    });
    expect(types).toEqual(implEqualityNames.map((name) => [name, "true"]));
  });

  it("rejects wrong requests, responses, options and implementations", () => {
    const invalid = project.getSourceFileOrThrow(join(scratch.path, "invalid.ts"));
    const expected = invalid
      .getFullText()
      .split("\n")
      .flatMap((line, i) => {
        const m = /\/\/ TS(\d+)$/.exec(line);
        return m ? [`${i + 1} TS${m[1]}`] : [];
      });
    expect(expected.length).toBeGreaterThan(15);
    const actual = diagnosticsOf(invalid).map((d) => `${d.getLineNumber()} TS${d.getCode()}`);
    expect(actual, diagnosticsOf(invalid).map(describeDiagnostic).join("\n")).toEqual(expected);
  });
});

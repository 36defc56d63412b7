import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CodeGeneratorRequestSchema,
  CodeGeneratorResponseSchema,
  FileDescriptorSetSchema,
  type CodeGeneratorRequest,
  type CodeGeneratorResponse,
  type FileDescriptorSet,
} from "@bufbuild/protobuf/wkt";
import { protocGenTunnel } from "../../src/index.js";

/** The repository root and this package's folder. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const packageDir = join(repoRoot, "protoc-gen-tunnel");
export const testProtoDir = join(packageDir, "test/proto");
export const bufBin = join(repoRoot, "node_modules/.bin/buf");
export const protocGenEsBin = join(repoRoot, "node_modules/.bin/protoc-gen-es");
export const pluginBin = join(packageDir, "bin/protoc-gen-tunnel");

/** Compiles the protos of a buf module with buf (offline), source info included. */
export function buildImage(moduleDir: string): FileDescriptorSet {
  const bytes = execFileSync(bufBin, ["build", moduleDir, "-o", "-#format=binpb"], { maxBuffer: 64 << 20 });
  return fromBinary(FileDescriptorSetSchema, bytes);
}

/** A request like protoc sends: generate every file that is not a well-known type. */
export function generatorRequest(image: FileDescriptorSet, parameter: string): CodeGeneratorRequest {
  const protoFile = image.file;
  return create(CodeGeneratorRequestSchema, {
    parameter,
    protoFile,
    fileToGenerate: protoFile.map((f) => f.name).filter((name) => !name.startsWith("google/protobuf/")),
    compilerVersion: { major: 29, minor: 0, patch: 0 },
  });
}

/** Runs protoc-gen-tunnel in process (from source); fails on a plugin error. */
export function runTunnelPlugin(request: CodeGeneratorRequest): Map<string, string> {
  return filesOf(protocGenTunnel.run(request));
}

/** Runs a plugin executable the way protoc does: request on stdin, response on stdout. */
export function runPluginBinary(command: string, args: string[], request: CodeGeneratorRequest): CodeGeneratorResponse {
  const stdout = execFileSync(command, args, {
    input: toBinary(CodeGeneratorRequestSchema, request),
    stdio: "pipe",
    maxBuffer: 64 << 20,
  });
  return fromBinary(CodeGeneratorResponseSchema, stdout);
}

export function filesOf(response: CodeGeneratorResponse): Map<string, string> {
  if (response.error !== undefined && response.error !== "") {
    throw new Error(`plugin error: ${response.error}`);
  }
  return new Map(response.file.map((f) => [f.name, f.content]));
}

/** Writes generated files below `dir`. */
export function writeFiles(dir: string, files: Map<string, string>): void {
  for (const [name, content] of files) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}

/**
 * A scratch folder inside the package (gitignored), so that code written
 * there resolves `@bufbuild/protobuf` and the runtime like the package does.
 */
export function scratchDir(prefix: string): { path: string; remove(): void } {
  const base = join(packageDir, ".tmp");
  mkdirSync(base, { recursive: true });
  const path = mkdtempSync(join(base, `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

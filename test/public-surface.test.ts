// The runtime's public surface: a root entry point of what users write
// (at most ROOT_BUDGET names, types included), implementer names under
// "/protocol", nothing the root offered before lost. (Declarations without
// @internal members: declarations.test.ts.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { runtimeConfig, runtimeDir } from "./support/runtime-config.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** The most names (values and types) the root entry point may export. */
const ROOT_BUDGET = 45;

/**
 * Every name "@protoc-gen-tunnel/runtime" exported before the /protocol
 * subpath existed (0.1.0): each must still be exported by the root or by
 * /protocol (CHANGELOG.md lists where each went).
 */
const EXPORTED_IN_0_1_0 =
  `AuthContext BidiStreamingImpl CallChannel CallEnd CallEndEvent CallFn CallInfo CallInterceptor CallOptions CallRequest
  CallResponse CallStartEvent CallStream ClientStreamingImpl Code DIAGNOSTICS_CHANNELS DiagnosticsListeners DrainOptions
  GrpcChannelOptions GrpcServiceOptions HandlerContext HandlerFn HandlerInterceptor HandlerRequest HandlerResponse MetadataInit
  MetadataValue MethodImpl MethodOf NEGOTIATE_HEADER NEGOTIATE_VALUE NOT_STARTED_WARNING OpenTunnelOptions ProcessMemoryUsage
  ReconnectOptions ReplayBufferLimits ReplicaCluster RetryPlan ReverseChannel ReverseChannels ReverseTunnel
  ReverseTunnelConflictPolicy ReverseTunnelRegistry ReverseTunnelServer ReverseTunnelServerOptions STATUS_DETAILS_KEY
  ServeOptions ServeResult ServerStreamingImpl ServiceHost ServiceImpl ServiceRegistrar StatusLike StreamCallRequest
  StreamCallResponse StreamHandlerRequest StreamHandlerResponse TUNNEL_CLIENT_KEEPALIVE TunnelChannel TunnelClient
  TunnelClientMethod TunnelCloseEvent TunnelEnd TunnelEndReason TunnelError TunnelErrorOptions TunnelInfo TunnelLimits
  TunnelMethodDefinition TunnelOpenEvent TunnelRole TunnelSelector TunnelServiceClient TunnelServiceDefinition
  TunnelServiceHandler TunnelServiceHandlerOptions UnaryCallRequest UnaryCallResponse UnaryHandlerRequest UnaryHandlerResponse
  UnaryImpl UndecodableFrame bidiStreamCall clientStreamCall codeName createTunnelClient grpcChannel grpcStatusFromError
  methodPath openTunnel processMemoryUsage serverStreamCall setProcessMemoryLimit subscribeDiagnostics toMetadata
  tunnelErrorFromGrpcStatus tunnelMetadataFromCall tunnelServerOptions tunnelServiceDefinition unaryCall withInterceptors`.split(/\s+/);

let program: ts.Program;
let checker: ts.TypeChecker;

beforeAll(() => {
  const { options } = runtimeConfig("tsconfig.json");
  const entries = ["index.ts", "protocol.ts"].map((entry) => join(runtimeDir, "src", entry));
  program = ts.createProgram(entries, { ...options, composite: false, incremental: false, noEmit: true });
  checker = program.getTypeChecker();
}, 120_000);

/** The names an entry point of runtime/src exports, and which of them are marked deprecated. */
function exportsOf(entry: string): { names: string[]; deprecated: string[] } {
  const source = program.getSourceFile(join(runtimeDir, "src", entry));
  const symbol = source && checker.getSymbolAtLocation(source);
  if (symbol === undefined) {
    throw new Error(`no module runtime/src/${entry}`);
  }
  const exported = checker.getExportsOfModule(symbol);
  const deprecated = exported.filter((s) => {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    return target.getJsDocTags(checker).some((tag) => tag.name === "deprecated");
  });
  return { names: exported.map((s) => s.name).sort(), deprecated: deprecated.map((s) => s.name).sort() };
}

describe("the root entry point", () => {
  it(`exports at most ${ROOT_BUDGET} names, types included; of the deprecated ones only the two the README showed`, () => {
    const root = exportsOf("index.ts");
    expect(root.names.length, root.names.join(" ")).toBeLessThanOrEqual(ROOT_BUDGET);
    expect(root.deprecated).toEqual(["CallInterceptor", "HandlerInterceptor"]);
  });

  it("exports everything generated code imports from it", () => {
    const root = new Set(exportsOf("index.ts").names);
    const golden = join(repoRoot, "protoc-gen-tunnel/test/golden/test/kinds/v1/kinds_tunnel.ts");
    const imported = [...readFileSync(golden, "utf8").matchAll(/import (?:type )?\{([^}]*)\} from "@protoc-gen-tunnel\/runtime"/g)]
      .flatMap((m) => m[1]!.split(","))
      .map((name) => name.trim())
      .filter((name) => name !== "");
    expect(imported.length).toBeGreaterThan(5);
    expect(imported.filter((name) => !root.has(name))).toEqual([]);
  });

  it("with /protocol, still exports every name of 0.1.0, each from one place", () => {
    const root = exportsOf("index.ts").names;
    const protocol = exportsOf("protocol.ts").names;
    expect(root.filter((name) => protocol.includes(name))).toEqual([]);
    const both = new Set([...root, ...protocol]);
    expect(EXPORTED_IN_0_1_0.filter((name) => !both.has(name))).toEqual([]);
    expect(EXPORTED_IN_0_1_0).toHaveLength(101);
  });
});

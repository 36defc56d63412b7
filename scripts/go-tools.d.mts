/** The lowest Go version the interop programs build with. */
export declare const MIN_GO_VERSION: string;
/** The command that installs Go on Debian or Ubuntu (as root). */
export declare const INSTALL_GO: string;
/** The grpcurl version `ensureGrpcurl` installs. */
export declare const GRPCURL_VERSION: string;
export declare const GRPCURL_MODULE: string;
/** The Python whose `grpc` module is Debian's python3-grpcio. */
export declare const PYTHON_WITH_GRPC: string;
/** The command that installs Debian's python3-grpcio (as root). */
export declare const INSTALL_PYTHON_GRPC: string;

/** The `go` command (GO_BINARY, on PATH, or /usr/local/go/bin); throws naming INSTALL_GO when there is none. */
export declare function goBinary(): string;

/** The built interop programs of interop/go. */
export interface GoInteropPrograms {
  /** The cache folder of this build. */
  dir: string;
  /** tunnel-server: forward tunnels to TestService, calls over reverse tunnels. */
  server: string;
  /** tunnel-client: calls over a forward tunnel, load mode, or a reverse-tunnel agent. */
  client: string;
}

/** Builds interop/go's programs unless the same sources are built already (cached in .cache/go); fails naming INSTALL_GO without Go. */
export declare function ensureGoInteropPrograms(): Promise<GoInteropPrograms>;

/** The path of grpcurl GRPCURL_VERSION, installed on first use with `go install` into .cache/go; fails naming the install command. */
export declare function ensureGrpcurl(): Promise<string>;

/** /usr/bin/python3 once it imports grpc; fails naming INSTALL_PYTHON_GRPC. */
export declare function ensurePythonGrpc(): Promise<{ python: string; grpcVersion: string }>;

/** The grpcurl version `ensureGrpcurl` installs. */
export declare const GRPCURL_VERSION: string;
export declare const GRPCURL_MODULE: string;
/** The command that installs Go on Debian (as root). */
export declare const INSTALL_GO: string;
/** The path of pinned grpcurl, installed on first use with `go install` into .cache/go; fails naming the install command. */
export declare function ensureGrpcurl(): Promise<string>;

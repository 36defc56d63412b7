/** Exit codes (docs/fleet.md lists them). */
export const EXIT = {
  ok: 0,
  /** The server answered with an error, or something unexpected happened. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** No replica holds the key. */
  notFound: 3,
  /** The server wants a (valid) token. */
  unauthorized: 4,
  /** The server could not be reached, or did not answer in time. */
  unreachable: 5,
  /** `call` failed with gRPC status N: exit 64 + N (as grpcurl does). */
  callFailedBase: 64,
} as const;

/** A failure that ends the command with a message and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

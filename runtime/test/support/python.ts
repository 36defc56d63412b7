import { execFile } from "node:child_process";
import { ensurePythonGrpc } from "../../../scripts/go-tools.mjs";

/** Runs a program with Debian's Python and python3-grpcio; fails naming the install command when grpc is missing. */
export async function runPython(args: string[], timeoutMs = 60_000): Promise<string> {
  const { python } = await ensurePythonGrpc();
  return new Promise((resolve, reject) =>
    execFile(python, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

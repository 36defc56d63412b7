import { execFile } from "node:child_process";

/** Debian's Python with python3-grpcio (the `python3` first on PATH may be another Python, without grpc). */
export const PYTHON_WITH_GRPC = "/usr/bin/python3";
export const INSTALL_PYTHON_GRPC = "apt-get update && apt-get install -y python3-grpcio";

/** Runs a Python program with grpc; fails naming the install command when grpc is missing. */
export async function runPython(args: string[], timeoutMs = 60_000): Promise<string> {
  await run(["-c", "import grpc"]).catch((error: Error) => {
    throw new Error(`${PYTHON_WITH_GRPC} cannot import grpc (${error.message.split("\n")[0]}); install it: ${INSTALL_PYTHON_GRPC}`);
  });
  return run(args, timeoutMs);
}

function run(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(PYTHON_WITH_GRPC, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

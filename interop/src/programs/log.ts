// Log lines like Go's standard `log` package ("2009/11/10 23:00:00 text" on
// stderr), so the output of the TypeScript and Go programs reads the same
// and scripts can wait for the same lines (e.g. "Listening on").

export type Log = (message: string) => void;

export function goLog(message: string): void {
  process.stderr.write(`${timestamp(new Date())} ${message}\n`);
}

/** Logs the error and exits 1, like Go's log.Fatal. */
export function fatal(error: unknown): never {
  goLog(describeError(error));
  process.exit(1);
}

/** A one-line description of anything thrown (no stack traces). */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function timestamp(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())} ` +
    `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`
  );
}

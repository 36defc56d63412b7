/**
 * Progress on stderr: which workload, which round and variant, time so far.
 * On a terminal the current line is rewritten; in logs one line per round.
 */
export class Progress {
  private readonly started = performance.now();
  private readonly tty: boolean;
  private workload = "";

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = out.isTTY === true;
  }

  startWorkload(index: number, id: string): void {
    this.workload = `[${String(index + 1).padStart(2)}/${this.total}] ${id}`;
    this.write(this.workload, true);
  }

  /** `round` counts from 0 over warm-up and measured rounds together. */
  round(round: number, warmupRounds: number, rounds: number, detail: string): void {
    const what = round < warmupRounds ? `warm-up ${round + 1}/${warmupRounds}` : `round ${round - warmupRounds + 1}/${rounds}`;
    this.write(`${this.workload} · ${what} · ${detail}`, !this.tty);
  }

  note(text: string): void {
    this.write(`${this.workload} · ${text}`, true);
  }

  finish(): void {
    this.write(`done in ${this.elapsed()}`, true);
  }

  private elapsed(): string {
    return `${((performance.now() - this.started) / 1000).toFixed(1)} s`;
  }

  private write(text: string, newline: boolean): void {
    if (this.quiet) {
      return;
    }
    const line = `bench ${this.elapsed().padStart(7)} ${text}`;
    if (this.tty) {
      this.out.write(`\r\x1b[2K${line}${newline ? "\n" : ""}`);
    } else if (newline) {
      this.out.write(`${line}\n`);
    }
  }
}

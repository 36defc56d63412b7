/** Where a command writes, and whether it may use colour. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/** ANSI styles, or none: colour only on a terminal, never with NO_COLOR or --no-color; FORCE_COLOR forces it. */
export class Style {
  readonly on: boolean;

  constructor(io: Io, noColor: boolean) {
    const forced = io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== "0";
    const banned = noColor || (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== "");
    this.on = !banned && (forced || io.stdout.isTTY === true);
  }

  bold = (text: string) => this.wrap(text, 1, 22);
  dim = (text: string) => this.wrap(text, 2, 22);
  red = (text: string) => this.wrap(text, 31, 39);
  green = (text: string) => this.wrap(text, 32, 39);
  yellow = (text: string) => this.wrap(text, 33, 39);
  cyan = (text: string) => this.wrap(text, 36, 39);

  private wrap(text: string, open: number, close: number): string {
    return this.on ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  }
}

/** The visible width of text that may hold ANSI styles. */
function width(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is stripped
  return [...text.replace(/\u001b\[\d+m/g, "")].length;
}

/** Rows as aligned columns under a bold header; cells may be styled. */
export function table(style: Style, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(width(title), ...rows.map((row) => width(row[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat(widths[i] - width(cell))))
      .join("  ")
      .trimEnd();
  return [style.bold(line(header)), ...rows.map(line)].join("\n");
}

/** Writes a line. */
export function println(stream: NodeJS.WritableStream, text = ""): void {
  stream.write(`${text}\n`);
}

/** A text safe to print on a terminal: control characters (an agent's key could hold any) shown escaped. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

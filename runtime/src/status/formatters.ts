import type { TunnelInfo } from "../diagnostics/events.js";

/** What the page exposes about tunnels beyond keys, peers and figures: nothing unless the operator says. */
export interface SnapshotOptions {
  /**
   * Text of an affinity key; strings as they are, other keys as JSON by
   * default. Called once per tunnel. If it throws, the key is shown as the
   * default text with an error cell.
   */
  formatKey?: (key: unknown) => string;
  /**
   * Tunnel metadata to show (e.g. `(t) => ({ agent: String(t.metadata.get("agent-version")[0]) })`).
   * Without it no metadata value leaves the process: they may hold
   * credentials. If it throws, the tunnel's metadata cell shows the error.
   */
  metadata?: (tunnel: TunnelInfo) => Record<string, string> | undefined;
}

/** The text of a key, or of a tunnel's metadata, and why the formatter failed if it did. */
export interface Formatted<T> {
  value: T;
  error?: string;
}

/**
 * The operator's formatters, contained: they run on what clients sent (keys,
 * metadata), from timers as well as requests, so a throw becomes an error
 * shown in the tunnel's cell and one process warning per formatter, never
 * an exception that could end the process.
 */
export class SafeFormatters {
  /** Key text per tunnel: a key never changes, and formatting 100,000 of them each refresh would cost. */
  private readonly keys = new WeakMap<TunnelInfo, Formatted<string>>();

  constructor(
    private readonly options: SnapshotOptions,
    private readonly warnings: OnceWarnings,
  ) {}

  get showsMetadata(): boolean {
    return this.options.metadata !== undefined;
  }

  /** The text of a reverse tunnel's affinity key ("" without one). */
  key(tunnel: TunnelInfo): Formatted<string> {
    const cached = this.keys.get(tunnel);
    if (cached !== undefined) {
      return cached;
    }
    const key = tunnel.affinityKey;
    if (key === undefined) {
      return { value: "" }; // not set yet: not cached
    }
    let formatted: Formatted<string>;
    try {
      formatted = { value: String((this.options.formatKey ?? keyText)(key)) };
    } catch (e) {
      formatted = { value: safeKeyText(key), error: this.failed("formatKey", e) };
    }
    this.keys.set(tunnel, formatted);
    return formatted;
  }

  /** The metadata the operator chose to show, copied as text. */
  metadata(tunnel: TunnelInfo): Formatted<Record<string, string> | undefined> {
    const format = this.options.metadata;
    if (format === undefined) {
      return { value: undefined };
    }
    try {
      const chosen = format(tunnel);
      if (chosen === undefined) {
        return { value: undefined };
      }
      const copy: Record<string, string> = {};
      for (const [name, value] of Object.entries(chosen)) {
        copy[name] = String(value);
      }
      return { value: copy };
    } catch (e) {
      return { value: undefined, error: this.failed("metadata", e) };
    }
  }

  private failed(formatter: string, e: unknown): string {
    const reason = describeThrown(e);
    this.warnings.warn(formatter, `the ${formatter} formatter threw (its cells show the error; not logged again): ${reason}`);
    return reason;
  }
}

/** The status page's process warnings, each kind logged once (until re-armed): a failure repeated every refresh must not flood the log. */
export class OnceWarnings {
  private readonly warned = new Set<string>();

  constructor(private readonly emit: (message: string) => void = (message) => process.emitWarning(message)) {}

  warn(kind: string, message: string): void {
    if (!this.warned.has(kind)) {
      this.warned.add(kind);
      this.emit(`grpctunnel: status page: ${message}`);
    }
  }

  /** The failure of `kind` is over: the next one is logged again. */
  rearm(kind: string): void {
    this.warned.delete(kind);
  }
}

/** "Name: message" of anything thrown, never throwing itself. */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) {
      return `${e.name}: ${e.message}`;
    }
    return `thrown: ${String(e)}`;
  } catch {
    return "thrown: (a value that cannot be shown)";
  }
}

function safeKeyText(key: unknown): string {
  try {
    return keyText(key);
  } catch {
    return Object.prototype.toString.call(key);
  }
}

/** Default key text: strings as they are; numbers, bigints and booleans as written; objects as JSON. */
export function keyText(key: unknown): string {
  switch (typeof key) {
    case "string":
      return key;
    case "object":
      try {
        return JSON.stringify(key) ?? String(key);
      } catch {
        return Object.prototype.toString.call(key);
      }
    default:
      return String(key);
  }
}

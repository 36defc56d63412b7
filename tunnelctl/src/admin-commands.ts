import type { TunnelEventRecord } from "@protoc-gen-tunnel/runtime/fleet";
import { AdminClient } from "./admin-client.js";
import { type Globals, oneServer, parseCommand, wholeNumber } from "./cli-args.js";
import { CliError, EXIT } from "./errors.js";
import { type Io, printable, println, type Style, table } from "./output.js";

/** What one command runs with. */
export interface Context {
  readonly io: Io;
  readonly g: Globals;
  readonly style: Style;
  readonly args: readonly string[];
  /** Aborted on SIGINT: long-running commands stop cleanly. */
  readonly signal: AbortSignal;
}

interface KeyEntry {
  key: string;
  replicas: string[];
}

interface KeyPage {
  keys: KeyEntry[];
  cursor: string | null;
}

const client = (c: Context) => new AdminClient(oneServer(c.g), c.g.token, c.g.timeoutMs);

export async function keys(c: Context, values: Record<string, unknown>): Promise<number> {
  const limit = wholeNumber(values.limit, "limit", 1, 1_000, 100);
  const all = values.all === true;
  if (all && values.cursor !== undefined) {
    throw new CliError("give --cursor or --all, not both", EXIT.usage);
  }
  const admin = client(c);
  const query = (cursor: string | undefined) => ({ prefix: values.prefix as string | undefined, limit: String(limit), cursor });
  if (!all) {
    const page = await admin.get<KeyPage>("/keys", query(values.cursor as string | undefined));
    if (c.g.json) {
      println(c.io.stdout, JSON.stringify(page));
      return EXIT.ok;
    }
    printKeys(c, page.keys);
    const more = page.cursor === null ? "" : c.style.dim(`  (more: --cursor ${page.cursor})`);
    println(c.io.stdout, `${page.keys.length} key${page.keys.length === 1 ? "" : "s"}${more}`);
    return EXIT.ok;
  }
  let cursor: string | undefined;
  let total = 0;
  do {
    const page = await admin.get<KeyPage>("/keys", query(cursor));
    total += page.keys.length;
    if (c.g.json) {
      for (const entry of page.keys) println(c.io.stdout, JSON.stringify(entry));
    } else if (page.keys.length > 0) {
      printKeys(c, page.keys);
    }
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined && !c.signal.aborted);
  if (!c.g.json) {
    println(c.io.stdout, `${total} key${total === 1 ? "" : "s"}`);
  }
  return EXIT.ok;
}

function printKeys(c: Context, entries: readonly KeyEntry[]): void {
  if (entries.length === 0) {
    return;
  }
  const rows = entries.map(({ key, replicas }) => [c.style.cyan(printable(key)), replicas.map(printable).join(", ")]);
  println(c.io.stdout, table(c.style, ["KEY", "REPLICAS"], rows));
}

export async function locate(c: Context, key: string): Promise<number> {
  const found = await client(c).get<{ key: string; replicas: Array<{ replicaId: string; address: string }> }>("/locate", { key });
  if (c.g.json) {
    println(c.io.stdout, JSON.stringify(found));
  } else if (found.replicas.length > 0) {
    const where = found.replicas.map((r) => `${c.style.bold(printable(r.replicaId))} (${printable(r.address)})`).join(", ");
    println(c.io.stdout, `${c.style.cyan(printable(key))} is held by ${where}`);
  } else {
    println(c.io.stderr, `${printable(key)}: no replica holds it`);
  }
  return found.replicas.length > 0 ? EXIT.ok : EXIT.notFound;
}

export async function watch(c: Context, values: Record<string, unknown>): Promise<number> {
  if (c.g.servers.length === 0) {
    oneServer(c.g); // the usage error
  }
  const count = values.count === undefined ? undefined : wholeNumber(values.count, "count", 1, Number.MAX_SAFE_INTEGER, 1);
  const prefix = values.prefix as string | undefined;
  const stop = new AbortController();
  const signal = AbortSignal.any([c.signal, stop.signal]);
  let seen = 0;
  const onEvent = (raw: unknown): boolean => {
    const event = raw as TunnelEventRecord;
    if (event.event !== "lost" && prefix !== undefined && !(event.key ?? "").startsWith(prefix)) {
      return true;
    }
    println(c.io.stdout, c.g.json ? JSON.stringify(event) : describeEvent(c.style, event));
    if (count !== undefined && ++seen >= count) {
      stop.abort();
      return false;
    }
    return true;
  };
  // Each stream says on stderr when it is live: events from then on are seen.
  const streams = c.g.servers.map((server) =>
    new AdminClient(server, c.g.token, c.g.timeoutMs).events("/events", onEvent, signal, () =>
      println(c.io.stderr, c.style.dim(`watching ${server} (Ctrl-C to stop)`)),
    ),
  );
  try {
    await Promise.all(streams);
  } finally {
    stop.abort();
  }
  return EXIT.ok;
}

function describeEvent(style: Style, event: TunnelEventRecord): string {
  const time = event.at.slice(11, 23);
  if (event.event === "lost") {
    return `${style.dim(time)}  ${style.yellow("lost")}   ${event.missed} events missed (this reader was too slow)`;
  }
  const what = event.event === "open" ? style.green("open ") : style.red("close");
  const why = event.reason === undefined ? "" : style.dim(` (${event.reason})`);
  return `${style.dim(time)}  ${what}  ${style.cyan(printable(event.key ?? ""))}  ${printable(event.replicaId ?? "-")}  ${printable(event.peer ?? "")}${why}`;
}

export async function status(c: Context): Promise<number> {
  const replica = await client(c).get<{
    replicaId: string | null;
    shuttingDown: boolean;
    reverseTunnels: number;
    draining: number;
    keys: number;
  }>("/replica");
  if (c.g.json) {
    println(c.io.stdout, JSON.stringify(replica));
    return EXIT.ok;
  }
  const state = replica.shuttingDown ? c.style.yellow("shutting down") : c.style.green("serving");
  println(c.io.stdout, `replica   ${c.style.bold(printable(replica.replicaId ?? "(no cluster)"))}`);
  println(c.io.stdout, `state     ${state}`);
  println(c.io.stdout, `tunnels   ${replica.reverseTunnels} reverse (${replica.draining} draining)`);
  println(c.io.stdout, `keys      ${replica.keys}`);
  return EXIT.ok;
}

export async function drain(c: Context): Promise<number> {
  if (c.g.token === undefined) {
    throw new CliError("drain needs the replica's token: --token or TUNNELCTL_TOKEN", EXIT.usage);
  }
  const answer = await client(c).post<{ draining: boolean; replicaId?: string; alreadyShuttingDown: boolean }>("/drain");
  if (c.g.json) {
    println(c.io.stdout, JSON.stringify(answer));
  } else {
    const name = c.style.bold(printable(answer.replicaId ?? oneServer(c.g)));
    println(c.io.stdout, answer.alreadyShuttingDown ? `replica ${name} was already shutting down` : `replica ${name} is draining`);
  }
  return EXIT.ok;
}

export { parseCommand };

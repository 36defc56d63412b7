import { ClientClosedError, ClientOfflineError, createClient, ErrorReply, type RedisClientOptions } from "redis";
import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";

/** node-redis options the directory leaves to the user (TLS, credentials, database, …). */
export type RedisConnectionOptions = Omit<RedisClientOptions, "url" | "disableOfflineQueue" | "commandsQueueMaxLength">;

export type RedisClient = ReturnType<typeof createClient>;

export interface ConnectionSettings {
  url: string;
  options: RedisConnectionOptions;
  commandTimeoutMs: number;
  /** After each (re)connection, once the connection can take commands. */
  onReady: () => void;
  /** Once each time a ready connection is lost. */
  onLost: (error: TunnelError) => void;
}

/** Commands waiting for Redis at most; beyond, they fail at once instead of piling up. */
const MAX_QUEUED_COMMANDS = 10_000;
const RECONNECT_MAX_DELAY_MS = 1_000;

/**
 * One node-redis connection set up to fail fast: no offline queue (a command
 * while disconnected fails at once), a deadline on every reply, reconnection
 * with capped exponential backoff and jitter, and every failure reported as
 * a `TunnelError` UNAVAILABLE that names Redis and the cause. Its 'error'
 * events are always handled (node-redis emits one per failed attempt).
 */
export class RedisConnection {
  readonly client: RedisClient;
  /** "Redis at host:port", credentials left out. */
  readonly server: string;
  private readonly commandTimeoutMs: number;
  private lastError: Error | undefined;
  private everReady = false;
  private wasReady = false;

  constructor(settings: ConnectionSettings) {
    this.server = `Redis at ${describeServer(settings.url)}`;
    this.commandTimeoutMs = settings.commandTimeoutMs;
    const { socket, ...rest } = settings.options;
    this.client = createClient({
      ...rest,
      url: settings.url,
      disableOfflineQueue: true,
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
      socket: {
        ...socket,
        // The first connection must succeed (open() reports it); later ones are retried forever.
        reconnectStrategy: (retries: number, cause: Error) => (this.everReady ? backoff(retries) : cause),
      },
    });
    this.client.on("error", (error: Error) => {
      this.lastError = error;
      if (this.wasReady) {
        this.wasReady = false;
        settings.onLost(this.unavailable(`lost the connection (${error.message})`, error));
      }
    });
    this.client.on("ready", () => {
      this.everReady = true;
      this.wasReady = true;
      this.lastError = undefined;
      settings.onReady();
    });
  }

  get ready(): boolean {
    return this.client.isReady;
  }

  /** Connects once; rejects with UNAVAILABLE (and gives up) if Redis cannot be reached. */
  async connect(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      throw this.unavailable(`is not reachable (${messageOf(error)})`, error);
    }
  }

  /**
   * Runs a command with a deadline, failing at once when disconnected. A
   * reply that comes after the deadline is dropped.
   */
  async run<T>(command: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.client.isReady) {
      throw this.offline();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unavailable(`did not answer within ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs);
    });
    try {
      return await Promise.race([command(this.client), deadline]);
    } catch (error) {
      throw this.toUnavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The error for "not connected now", naming the last connection failure. */
  offline(): TunnelError {
    const cause = this.lastError;
    return this.unavailable(`is not reachable (${cause?.message || "not connected"})`, cause);
  }

  unavailable(what: string, cause?: unknown): TunnelError {
    return new TunnelError(Code.UNAVAILABLE, `cluster directory unavailable: ${this.server} ${what}`, { cause });
  }

  /** Drops the connection at once (pending commands fail); idempotent. */
  destroy(): void {
    this.wasReady = false;
    this.client.destroy();
  }

  private toUnavailable(error: unknown): TunnelError {
    if (error instanceof TunnelError) {
      return error;
    }
    if (error instanceof ClientOfflineError || error instanceof ClientClosedError) {
      return this.offline();
    }
    if (error instanceof ErrorReply) {
      return this.unavailable(`refused the command (${error.message})`, error);
    }
    return this.unavailable(`failed (${messageOf(error)})`, error);
  }
}

/** Exponential backoff capped at 1 s, with jitter so replicas do not reconnect in lockstep. */
function backoff(retries: number): number {
  // Stryker disable next-line ArithmeticOperator,MethodExpression: only the reconnections' timing changes
  const base = Math.min(50 * 2 ** Math.min(retries, 10), RECONNECT_MAX_DELAY_MS);
  // Stryker disable next-line ArithmeticOperator: only the reconnections' timing changes
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** host:port of a Redis URL, without credentials (messages may reach logs and peers). */
function describeServer(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("cluster directory: the Redis URL is not a valid URL");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError(`cluster directory: the Redis URL must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  return `${parsed.hostname || "localhost"}:${parsed.port || "6379"}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

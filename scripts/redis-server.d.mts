/** The command that installs redis-server on Debian or Ubuntu (as root). */
export declare const INSTALL_REDIS: string;

/** The redis-server binary to run (REDIS_SERVER or on PATH); throws naming INSTALL_REDIS when there is none. */
export declare function redisServerBinary(): string;

/** A redis-server process on a loopback port, persistence off, in a temporary directory. */
export declare class RedisServer {
  private constructor();
  readonly port: number;
  /** Starts a fresh server on a free loopback port. */
  static start(): Promise<RedisServer>;
  /** redis://127.0.0.1:port */
  get url(): string;
  get pid(): number | undefined;
  /** kill -9, resolved once the process is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
}

/** REDIS_URL when it is set, else a redis-server of our own (stopped by `stop`). */
export declare function redisFromEnvOrStart(): Promise<{ url: string; stop(): Promise<void> }>;

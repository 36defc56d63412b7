// A real redis-server on an ephemeral loopback port, with persistence off in
// a temporary directory: what the cluster tests, the cluster example and the
// benchmark start (and the fault tests kill -9, pause and restart on the same
// port). The binary is REDIS_SERVER or `redis-server` on PATH; without one,
// start() fails with the command that installs it.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findExecutable, isExecutable } from "./executables.mjs";

export const INSTALL_REDIS = "apt-get update && apt-get install -y redis-server";

/** The redis-server binary to run, or an error that says how to install one. */
export function redisServerBinary() {
  const configured = process.env.REDIS_SERVER;
  if (configured) {
    if (!isExecutable(configured)) {
      throw new Error(`REDIS_SERVER=${configured} is not an executable file. Install Redis: ${INSTALL_REDIS}`);
    }
    return configured;
  }
  const found = findExecutable("redis-server");
  if (found !== undefined) {
    return found;
  }
  throw new Error(
    `redis-server is not installed (not on PATH); the cluster tests need a real Redis. Install it with: ${INSTALL_REDIS} (or set REDIS_SERVER to the binary)`,
  );
}

/** A redis-server process owned by its starter. */
export class RedisServer {
  #child;
  #exited = Promise.resolve();

  constructor(binary, port, dir) {
    this.binary = binary;
    this.port = port;
    this.dir = dir;
  }

  /** Starts a fresh server on a free loopback port. */
  static async start() {
    const binary = redisServerBinary();
    const dir = await mkdtemp(join(tmpdir(), "redis-test-"));
    let lastError;
    // A free port can be taken between picking and binding it: try a few.
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(binary, await freePort(), dir);
      try {
        await server.#launch();
        return server;
      } catch (error) {
        lastError = error;
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid() {
    return this.#child?.pid;
  }

  /** kill -9, resolved once the process is gone. */
  async kill() {
    this.#child?.kill("SIGKILL");
    await this.#exited;
    this.#child = undefined;
  }

  /** Starts the server again on the same port, empty. */
  async restart() {
    await this.kill();
    await this.#launch();
  }

  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause() {
    this.#child?.kill("SIGSTOP");
  }

  resume() {
    this.#child?.kill("SIGCONT");
  }

  /** Kills the server and removes its directory. */
  async stop() {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  async #launch() {
    const child = spawn(
      this.binary,
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const log = [];
    child.stderr.on("data", (chunk) => log.push(chunk.toString()));
    const ready = await new Promise((resolve) => {
      const lines = createInterface({ input: child.stdout });
      lines.on("line", (line) => {
        log.push(line);
        if (line.includes("Ready to accept connections")) {
          resolve(true);
        }
      });
      child.once("exit", () => resolve(false));
      child.once("error", (error) => {
        log.push(String(error));
        resolve(false);
      });
    });
    if (!ready) {
      this.#child = undefined;
      throw new Error(`redis-server on port ${this.port} did not start:\n${log.join("\n")}`);
    }
    const reply = await ping(this.port);
    if (reply !== "+PONG") {
      await this.kill();
      throw new Error(`redis-server on port ${this.port} answered PING with ${JSON.stringify(reply)}`);
    }
  }
}

/** Sends PING over a raw connection; resolves with the reply line. */
function ping(port) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let data = "";
    socket.setEncoding("utf8");
    socket.once("error", reject);
    socket.on("data", (chunk) => {
      data += chunk;
      if (data.includes("\r\n")) {
        socket.destroy();
        resolve(data.split("\r\n")[0]);
      }
    });
    socket.write("PING\r\n");
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** REDIS_URL when it is set, else a redis-server of our own (stopped by `stop`). */
export async function redisFromEnvOrStart() {
  const url = process.env.REDIS_URL;
  if (url) {
    return { url, stop: async () => {} };
  }
  const server = await RedisServer.start();
  return { url: server.url, stop: () => server.stop() };
}

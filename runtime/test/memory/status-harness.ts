import { fork, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import type { StatusPageOptions } from "../../src/status.js";
import { EventLog } from "../support/events.js";
import { eventParser } from "../support/http-page.js";

/** What the status server holds, after a full GC (see status-server.mjs). */
export interface StatusMeasure {
  heap: number;
  arrayBuffers: number;
  rss: number;
  /** HTTP connections open on the status page's server. */
  connections: number;
}

export interface StatusServerEvent {
  event: "open" | "close" | "request" | "response-closed" | "warning";
  id?: number;
  url?: string;
  message?: string;
}

export interface StatusServerConfig {
  /** The status page's options (but formatters). */
  page?: Omit<StatusPageOptions, "formatKey" | "metadata">;
  /** A formatter of status-server.mjs that throws on some input. */
  formatter?: "decode-agent-name" | "decode-key";
}

/** A reverse-tunnel server with its status page, in its own process (status-server.mjs). */
export class StatusServer {
  readonly events = new EventLog<StatusServerEvent>();
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private nextId = 0;
  address = "";
  httpBase = "";

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve((this.exitCode = code))));
  }

  static async start(config: StatusServerConfig = {}): Promise<StatusServer> {
    const script = new URL("./status-server.mjs", import.meta.url).pathname;
    const child = fork(script, [JSON.stringify(config)], {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    const server = new StatusServer(child);
    child.stderr!.on("data", () => {}); // warnings arrive over IPC too; uncaught errors end the process
    await new Promise<void>((resolve, reject) => {
      child.on("message", (message: StatusServerEvent & { port?: number; httpPort?: number }) => {
        if (message.port !== undefined) {
          server.address = `127.0.0.1:${message.port}`;
          server.httpBase = `http://127.0.0.1:${message.httpPort}`;
          resolve();
        } else if (message.event !== undefined) {
          server.events.push(message);
        }
      });
      void server.exited.then((code) => reject(new Error(`status server exited (${code}) before listening`)));
    });
    return server;
  }

  /** True while the process runs. */
  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Tunnels opened so far, minus those closed. */
  get openTunnels(): number {
    return this.events.count((e) => e.event === "open") - this.events.count((e) => e.event === "close");
  }

  /** Resolves once `n` tunnels are open (as the server's open and close events tell). */
  async openTunnelsAre(n: number): Promise<void> {
    await this.events.waitFor(() => this.openTunnels === n);
  }

  /** `promise`, or a rejection as soon as the process exits: a test waiting on a dead server fails at once. */
  until<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([
      promise,
      this.exited.then((code) => {
        throw new Error(`status server exited (${code})`);
      }),
    ]);
  }

  measure(): Promise<StatusMeasure> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const onMessage = (message: StatusMeasure & { id?: number }) => {
        if (message.id === id) {
          this.child.off("message", onMessage);
          resolve(message);
        }
      };
      this.child.on("message", onMessage);
      this.child.send({ cmd: "measure", id });
      void this.exited.then((code) => reject(new Error(`status server exited (${code})`)));
    });
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

/**
 * An HTTP client that asks for the event stream and then never reads a
 * byte: whatever the server writes piles up in the socket buffers and then
 * in the server's process.
 */
export async function stuckViewer(httpBase: string, path = "/events"): Promise<net.Socket> {
  const { hostname, port } = new URL(httpBase);
  const socket = net.connect(Number(port), hostname);
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.setNoDelay(true);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`);
  socket.pause();
  return socket;
}

/** Starts reading a stuck viewer's socket: the `data` of each event from now on, parsed as JSON. */
export function readEvents<T>(socket: net.Socket): EventLog<T> {
  const events = new EventLog<T>();
  socket.setEncoding("utf8");
  socket.on("data", eventParser(events));
  socket.resume();
  return events;
}

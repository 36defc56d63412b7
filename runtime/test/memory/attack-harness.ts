import { fork, type ChildProcess } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { expect } from "vitest";
import { openTunnel, TunnelServiceClient, unaryCall, type TunnelChannel } from "../../src/index.js";
import type { TunnelLimits } from "../../src/protocol.js";

/** What the attacked server holds, after a full GC (see attack-server.mjs). */
export interface Measure {
  heap: number;
  arrayBuffers: number;
  rss: number;
  /** The largest RSS the process has had so far. */
  maxRss: number;
  /** What its tunnels have charged to their memory budgets. */
  charged: number;
  /** Frames grpc-js has read from tunnel RPCs. */
  framesRead: number;
}

/** What a process holds in JS objects and buffers: the figure budgets bound. */
export const held = (m: Measure): number => m.heap + m.arrayBuffers;

export const MiB = 1024 * 1024;

export interface AttackServerConfig {
  limits?: Partial<TunnelLimits>;
  flowControl?: boolean;
  processLimit?: number;
}

/** The tunnel server under attack, in its own process (attack-server.mjs). */
export class AttackServer {
  private nextId = 0;
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve((this.exitCode = code))));
  }

  static async start(config: AttackServerConfig = {}): Promise<AttackServer> {
    const script = new URL("./attack-server.mjs", import.meta.url).pathname;
    const child = fork(script, [JSON.stringify(config)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (message: { port: number }) => resolve(message.port));
      child.once("exit", (code) => reject(new Error(`attack server exited (${code}) before listening`)));
    });
    return new AttackServer(child, `127.0.0.1:${port}`);
  }

  /** True while the process runs. */
  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** What the server holds, after a full GC. */
  measure(): Promise<Measure> {
    return this.ask<Measure>("measure");
  }

  /** Frames grpc-js has read so far; cheap enough to poll (no GC). */
  async framesRead(): Promise<number> {
    return (await this.ask<{ framesRead: number }>("frames")).framesRead;
  }

  private ask<T>(cmd: string): Promise<T> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const onMessage = (message: T & { id?: number }) => {
        if (message.id === id) {
          this.child.off("message", onMessage);
          resolve(message);
        }
      };
      this.child.on("message", onMessage);
      this.child.send({ cmd, id });
      void this.exited.then((code) => reject(new Error(`attack server exited (${code})`)));
    });
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

/**
 * A well-behaved client on its own connection: the one other clients'
 * attacks must not take down.
 */
export class Bystander {
  private constructor(
    private readonly client: grpc.Client,
    readonly tunnel: TunnelChannel,
  ) {}

  static async connect(address: string): Promise<Bystander> {
    // Its own subchannel pool: never the connection of another client here.
    const client = new TunnelServiceClient(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    return new Bystander(client, await openTunnel(client));
  }

  /** One echo call; fails the test if it does not come back intact. */
  async ping(): Promise<void> {
    const payload = new Uint8Array([1, 2, 3]);
    const res = await unaryCall(this.tunnel, TestService.method.unary, { payload });
    expect(res.payload).toEqual(payload);
  }

  close(): void {
    this.tunnel.close();
    this.client.close();
  }
}

/**
 * Memory once the attacker is gone: what the server holds returns to near
 * its baseline, and nothing is left charged to the budgets. Retried while
 * the server lets go of the connection (closes are asynchronous).
 */
export async function expectBackToBaseline(server: AttackServer, baseline: Measure, slack = 4 * MiB): Promise<Measure> {
  let last = await server.measure();
  for (let attempt = 0; attempt < 50 && (last.charged > baseline.charged || held(last) > held(baseline) + slack); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100)); // polling interval; the bound below is the assertion
    last = await server.measure();
  }
  expect(last.charged).toBeLessThanOrEqual(baseline.charged);
  expect(held(last) - held(baseline)).toBeLessThan(slack);
  return last;
}

import { fork, type ChildProcess } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { expect } from "vitest";
import { H2Connection } from "../support/h2-tunnel.js";
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
  /** The process budget (`setProcessMemoryLimit`, by default half of V8's heap limit, at most 1 GiB). */
  processLimit: number;
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
  /** Key budgets by x-forwarded-for (`forwardedForKey`), as behind a trusted proxy. */
  forwardedFor?: boolean;
  /** V8's old-space limit (`--max-old-space-size`), as an operator sets it; else Node's default. */
  maxOldSpaceMiB?: number;
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
    const execArgv = ["--expose-gc"];
    if (config.maxOldSpaceMiB !== undefined) execArgv.push(`--max-old-space-size=${config.maxOldSpaceMiB}`);
    const child = fork(script, [JSON.stringify(config)], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
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

/**
 * Pings through `bystander` until, for two seconds and at least ten round
 * trips through the server, `attacker` (or each of several) wrote (almost)
 * nothing more to its socket and grpc-js read no frame but the bystander's
 * (three per call): the server answers others but takes nothing from the
 * attackers. Returns the server's measure then.
 */
export async function stalledWhileServing(
  server: AttackServer,
  attacker: H2Connection | H2Connection[],
  bystander: Bystander,
): Promise<Measure> {
  const attackers = Array.isArray(attacker) ? attacker : [attacker];
  const written = () => attackers.reduce((sum, a) => sum + a.bytesWritten, 0);
  let lastFrames = await server.framesRead();
  let lastBytes = written();
  let quietRounds = 0;
  let quietSince = Date.now();
  for (let round = 0; round < 10_000; round++) {
    await bystander.ping();
    const frames = await server.framesRead();
    const bytes = written();
    if (frames - lastFrames <= 3 && bytes - lastBytes < 1_024) {
      quietRounds++;
    } else {
      quietRounds = 0;
      quietSince = Date.now();
    }
    lastFrames = frames;
    lastBytes = bytes;
    if (quietRounds >= 10 && Date.now() - quietSince >= 2_000) return server.measure();
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling interval; the condition above is what counts
  }
  throw new Error(`the attackers' writes never stalled (${lastBytes} bytes written, ${lastFrames} frames read)`);
}

const cleanups: Array<() => unknown> = [];

/** Runs what the last test left to clean up, newest first (an afterEach). */
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/**
 * An attack server with a bystander that answered once, its baseline
 * measure, and attackers on raw HTTP/2 connections (`connect`);
 * `attackersGone` closes them and checks that memory returns to the
 * baseline and the server lives. Cleaned up by `runCleanups`.
 */
export async function attackSetup(config: AttackServerConfig = {}) {
  const server = await AttackServer.start(config);
  cleanups.push(() => server.kill());
  const bystander = await Bystander.connect(server.address);
  cleanups.push(() => bystander.close());
  await bystander.ping();
  const baseline = await server.measure();
  const attackers: H2Connection[] = [];
  const connect = () => {
    const attacker = new H2Connection(server.address);
    attackers.push(attacker);
    cleanups.push(() => attacker.close());
    return attacker;
  };
  const attackersGone = async () => {
    for (const attacker of attackers) attacker.close();
    await expectBackToBaseline(server, baseline);
    expect(server.alive).toBe(true);
  };
  return { server, bystander, baseline, connect, attackersGone };
}

import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import {
  type CallChannel,
  openTunnel,
  ReverseTunnelServer,
  TunnelServiceClient,
  TunnelServiceHandler,
  tunnelServerOptions,
} from "@protoc-gen-tunnel/runtime";
import type { ReplicaCluster } from "@protoc-gen-tunnel/runtime/protocol";
import type { GoInteropPrograms } from "../../../../scripts/go-tools.mjs";
import { ChunkTap } from "./chunk-tap.js";
import { EventLog } from "./event-log.js";
import { GoProcess } from "./go-process.js";
import { Releases } from "./releases.js";
import type { CallResult, CallSpec } from "./spec.js";
import { runTsCall } from "./ts-caller.js";
import { observedTestService } from "./ts-service.js";

export type Revision = 0 | 1;
export type Language = "TypeScript" | "Go";
/** forward: the caller opened the tunnel; reverse: the server's agent did; relayed: reverse, through another replica. */
export type Direction = "forward" | "reverse" | "relayed";

/** One end of a pairing: its events, and releasing what it parked or stalled. */
export interface End {
  language: Language;
  log: EventLog;
  release(id: string): void;
}

/**
 * A caller in one language and TestService in the other, over one tunnel
 * (forward: the caller opened it; reverse: the server's agent did).
 */
export interface Pairing {
  name: string;
  direction: Direction;
  revision: Revision;
  caller: End;
  server: End;
  call(spec: CallSpec): Promise<CallResult>;
  /** The chunks the TypeScript end sent and received on this pairing's connection. */
  tap: ChunkTap;
}

/** The affinity key metadata of the interop programs' reverse tunnels. */
export const KEY_HEADER = "test-client-key";

export const revisionFlags = (revision: Revision) => (revision === 0 ? ["-no-flow-control"] : []);

/** What stops a started pairing's processes, servers and tunnels, in reverse order. */
export class Teardown {
  private readonly tasks: Array<() => unknown> = [];
  add(task: () => unknown): void {
    this.tasks.push(task);
  }
  async run(): Promise<void> {
    for (const task of this.tasks.splice(0).reverse()) await task();
  }
}

/** A TypeScript end's log and releases. */
export function tsEnd(): End & { releases: Releases } {
  const releases = new Releases();
  return { language: "TypeScript", log: new EventLog(), releases, release: (id) => releases.release(id) };
}

export function goEnd(process: GoProcess): End {
  return { language: "Go", log: process.log, release: (id) => process.release(id) };
}

/** The Go tunnel server with a TypeScript client: forward (TS calls Go) and reverse (Go calls the TS agent). */
export async function withGoServer(programs: GoInteropPrograms, revision: Revision, teardown: Teardown): Promise<Pairing[]> {
  const goServer = new GoProcess(`tunnel-server (revision ${revision})`, programs.server, revisionFlags(revision));
  teardown.add(() => goServer.stop());
  const { address } = await goServer.started("listening");
  const disableFlowControl = revision === 0;

  const forwardTap = new ChunkTap();
  const forwardClient = new TunnelServiceClient(address!, grpc.credentials.createInsecure(), { interceptors: [forwardTap.interceptor] });
  teardown.add(() => forwardClient.close());
  const tunnel = await openTunnel(forwardClient, { disableFlowControl });
  teardown.add(() => tunnel.close());
  const forwardCaller = tsEnd();

  const reverseTap = new ChunkTap();
  const reverseClient = new TunnelServiceClient(address!, grpc.credentials.createInsecure(), { interceptors: [reverseTap.interceptor] });
  teardown.add(() => reverseClient.close());
  const agent = tsEnd();
  const key = randomBytes(8).toString("hex");
  const reverseServer = new ReverseTunnelServer(reverseClient, { disableFlowControl });
  reverseServer.registerService(TestService, observedTestService(agent.log, agent.releases));
  const serving = reverseServer.serve({ metadata: { [KEY_HEADER]: key } });
  teardown.add(async () => {
    reverseServer.stop();
    await serving;
  });
  await goServer.log.waitFor(`reverse tunnel ${key} at the Go server`, (e) => e.event === "reverse-open" && e.key === key);

  return [
    {
      name: `TypeScript client → Go server, forward tunnel, revision ${revision}`,
      direction: "forward",
      revision,
      caller: forwardCaller,
      server: goEnd(goServer),
      call: (spec) => runTsCall(tunnel, spec, forwardCaller.log, forwardCaller.releases),
      tap: forwardTap,
    },
    {
      name: `Go server → TypeScript agent, reverse tunnel, revision ${revision}`,
      direction: "reverse",
      revision,
      caller: goEnd(goServer),
      server: agent,
      call: (spec) => goServer.call({ ...spec, key }),
      tap: reverseTap,
    },
  ];
}

/** A TypeScript tunnel server (network server) serving TestService over forward tunnels, tapped. */
export async function startTsHub(revision: Revision, teardown: Teardown, cluster?: ReplicaCluster) {
  const service = tsEnd();
  const handler = new TunnelServiceHandler<string>({
    affinityKey: (tunnel) => String(tunnel.metadata.get(KEY_HEADER)[0] ?? ""),
    disableFlowControl: revision === 0,
    cluster,
  });
  handler.registerService(TestService, observedTestService(service.log, service.releases));
  const tap = new ChunkTap();
  const server = new grpc.Server(tunnelServerOptions());
  server.addService(...tap.wrap(handler.service()));
  const address = await bind(server);
  teardown.add(() => server.forceShutdown());
  return { handler, address, tap, service };
}

/** Binds a grpc-js server to a free loopback port; returns its address. */
export async function bind(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

/** The Go client serving TestService as a reverse-tunnel agent of `address` under `key`. */
export async function startGoAgent(programs: GoInteropPrograms, revision: Revision, teardown: Teardown, address: string, key: string) {
  const agent = new GoProcess(`tunnel-client -tunnel reverse (revision ${revision})`, programs.client, [
    "-addr",
    address,
    "-tunnel",
    "reverse",
    "-key",
    key,
    ...revisionFlags(revision),
  ]);
  teardown.add(() => agent.stop());
  await agent.started("serving");
  return agent;
}

/** A TypeScript tunnel server with the Go client: forward (Go calls TS) and reverse (TS calls the Go agent). */
export async function withTsServer(programs: GoInteropPrograms, revision: Revision, teardown: Teardown): Promise<Pairing[]> {
  const { handler, address, tap, service } = await startTsHub(revision, teardown);
  const goClient = new GoProcess(`tunnel-client (revision ${revision})`, programs.client, [
    "-addr",
    address,
    "-commands",
    ...revisionFlags(revision),
  ]);
  teardown.add(() => goClient.stop());
  const key = randomBytes(8).toString("hex");
  const [goAgent] = await Promise.all([startGoAgent(programs, revision, teardown, address, key), goClient.started("ready")]);
  const agentChannel: CallChannel = handler.keyAsChannel(key);
  await handler.keyAsChannel(key).waitForReady({ signal: AbortSignal.timeout(10_000) });
  const caller = tsEnd();

  return [
    {
      name: `Go client → TypeScript server, forward tunnel, revision ${revision}`,
      direction: "forward",
      revision,
      caller: goEnd(goClient),
      server: service,
      call: (spec) => goClient.call(spec),
      tap,
    },
    {
      name: `TypeScript server → Go agent, reverse tunnel, revision ${revision}`,
      direction: "reverse",
      revision,
      caller,
      server: goEnd(goAgent),
      call: (spec) => runTsCall(agentChannel, spec, caller.log, caller.releases),
      tap,
    },
  ];
}

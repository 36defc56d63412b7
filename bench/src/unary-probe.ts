// What one unary call costs, counted rather than timed: a fixed number of
// 100 B unary calls at 32 callers on each variant, then per call the
// promises created (async_hooks), the bytes allocated (V8's sampling heap
// profiler, garbage included), the tunnel frames written and read, and the
// CPU time. Counts do not depend on other load on the machine; CPU time
// does, less than throughput. Usage:
//   node bench/dist/unary-probe.js [--variants rev1,direct] [--processes 1|2] [--calls N] [--rounds N]
//                                  [--cpu-prof PREFIX] [--alloc-top N] [--cpu-only]
// Variants share the process (as in the bench: grpc-js's code sees both);
// CPU is measured in rounds, the variants' order turning each round.
// With --processes 2 the server runs in a child process and every count is
// the client process's alone (CPU: both, and the client's).
import { createHook } from "node:async_hooks";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { tunnelServiceDefinition } from "@protoc-gen-tunnel/runtime/protocol";
import { ownCpuMicros, startForward, type VariantId } from "./fixtures.js";
import { payloadOf } from "./service.js";
import { threadCpuMicros } from "./thread-cpu.js";

const { values } = parseArgs({
  options: {
    variants: { type: "string", default: "rev1,direct" },
    rounds: { type: "string", default: "3" },
    processes: { type: "string", default: "1" },
    calls: { type: "string", default: "20000" },
    callers: { type: "string", default: "32" },
    "cpu-prof": { type: "string" },
    "alloc-top": { type: "string", default: "0" },
    /** Only the CPU rounds (for paired A/B runs of two builds): no counting passes. */
    "cpu-only": { type: "boolean", default: false },
  },
});
const variants = values.variants.split(",") as VariantId[];
const rounds = Number(values.rounds);
const processes = values.processes === "2" ? 2 : 1;
const calls = Number(values.calls);
const callers = Number(values.callers);

// Frames are counted where they are (de)serialized: the network client's
// tunnel call gets its functions from makeBidiStreamRequest, the network
// server's from the service definition.
const frames = { written: 0, read: 0 };
type Serialize = (value: never) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;
const countWrites = <F extends Serialize>(f: F): F =>
  ((value: never) => {
    frames.written++;
    return f(value);
  }) as F;
const countReads = <F extends Deserialize>(f: F): F =>
  ((bytes: Buffer) => {
    frames.read++;
    return f(bytes);
  }) as F;
const tunnelMethod = tunnelServiceDefinition.openTunnel as unknown as Record<string, Serialize & Deserialize>;
tunnelMethod.responseSerialize = countWrites(tunnelMethod.responseSerialize!);
tunnelMethod.requestDeserialize = countReads(tunnelMethod.requestDeserialize!);
const clientPrototype = grpc.Client.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
const makeBidi = clientPrototype.makeBidiStreamRequest!;
clientPrototype.makeBidiStreamRequest = function (this: grpc.Client, path, serialize, deserialize, ...rest) {
  return makeBidi.call(this, path, countWrites(serialize as Serialize), countReads(deserialize as Deserialize), ...rest);
};

const setup = await startForward(variants, { processes });
const payload = payloadOf(100);

/** `n` calls on `variant` by `callers` loops, each starting its next call when the last returned. */
async function run(variant: VariantId, n: number): Promise<void> {
  const client = setup.clients[variant];
  let left = n;
  const loop = async () => {
    while (left > 0) {
      left--;
      await client.unary({ payload });
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
}

/** Promises created per call (async_hooks slows everything down: a pass of its own). */
async function promisesPerCall(variant: VariantId, n: number): Promise<number> {
  let promises = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === "PROMISE") promises++;
    },
  });
  hook.enable();
  await run(variant, n);
  hook.disable();
  return promises / n;
}

/** Tunnel frames per call, both directions (zero for direct). */
async function framesPerCall(variant: VariantId, n: number): Promise<string> {
  const { written, read } = frames;
  await run(variant, n);
  return `written ${((frames.written - written) / n).toFixed(2)}, read ${((frames.read - read) / n).toFixed(2)}`;
}

/** Bytes allocated per call, garbage included (the sampling heap profiler), and by function. */
async function allocationPerCall(variant: VariantId, n: number): Promise<{ total: number; top: Array<[string, number]> }> {
  const session = new Session();
  session.connect();
  await setup.collect();
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await run(variant, n);
  const { profile } = await session.post("HeapProfiler.stopSampling");
  session.disconnect();
  const byFunction = new Map<string, number>();
  let total = 0;
  const visit = (node: (typeof profile)["head"]) => {
    if (node.selfSize > 0) {
      const f = node.callFrame;
      const file = f.url.replace(/^.*\/(node_modules|runtime|bench|interop)\//, "$1/");
      const name = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
      byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize / n);
      total += node.selfSize / n;
    }
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return { total, top: [...byFunction].sort((a, b) => b[1] - a[1]) };
}

interface CpuSample {
  rate: number;
  /** µs per call: all processes, this process, its main thread. */
  all: number;
  own: number;
  thread: number;
}

/** CPU per call over `n` calls (optionally profiled into `profilePath`). */
async function cpuPerCall(variant: VariantId, n: number, profilePath?: string): Promise<CpuSample> {
  await setup.collect();
  const session = profilePath === undefined ? undefined : new Session();
  if (session !== undefined) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const all0 = await setup.cpuMicros();
  const own0 = ownCpuMicros();
  const thread0 = threadCpuMicros() ?? 0;
  const start = performance.now();
  await run(variant, n);
  const ms = performance.now() - start;
  const thread = (threadCpuMicros() ?? 0) - thread0;
  const own = ownCpuMicros() - own0;
  const all = (await setup.cpuMicros()) - all0;
  if (session !== undefined) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(profilePath!, JSON.stringify(profile));
    session.disconnect();
  }
  return { rate: (n / ms) * 1000, all: all / n, own: own / n, thread: thread / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;

for (const variant of variants) {
  await run(variant, Math.max(5000, calls / 4)); // warm up: JIT, buffers, pools
}
const out: string[] = [`${callers} callers, ${processes === 1 ? "one process" : "two processes"}, node ${process.version}`];
for (const variant of values["cpu-only"] ? [] : variants) {
  const allocation = await allocationPerCall(variant, 4000);
  out.push(
    `${variant}: promises per call ${(await promisesPerCall(variant, 2000)).toFixed(1)}; frames per call ${await framesPerCall(variant, 2000)}; bytes allocated per call ${allocation.total.toFixed(0)} (sampled)`,
  );
  for (const [name, bytes] of allocation.top.slice(0, Number(values["alloc-top"]))) {
    out.push(`  ${bytes.toFixed(0).padStart(6)} B  ${name}`);
  }
}
const samples = new Map<VariantId, CpuSample[]>(variants.map((v) => [v, []]));
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < variants.length; i++) {
    const variant = variants[(round + i) % variants.length]!;
    const prefix = values["cpu-prof"];
    samples
      .get(variant)!
      .push(await cpuPerCall(variant, calls, prefix === undefined ? undefined : `${prefix}-${variant}-${round}.cpuprofile`));
  }
}
for (const variant of variants) {
  const s = samples.get(variant)!;
  const pick = (f: (x: CpuSample) => number) => `${median(s.map(f)).toFixed(1)} (${spread(s.map(f))})`;
  out.push(
    `${variant}: CPU µs per call ${pick((x) => x.all)}, this process ${pick((x) => x.own)}, its main thread ${pick((x) => x.thread)}; calls/s ${pick((x) => x.rate)}`,
  );
}
if (variants.length === 2) {
  const [a, b] = variants.map((v) => samples.get(v)!);
  const ratios = (f: (x: CpuSample) => number) => a!.map((x, i) => f(x) / f(b![i]!));
  out.push(
    `${variants[0]} ÷ ${variants[1]}, paired by round: CPU ${median(ratios((x) => x.all)).toFixed(2)} (${spread(ratios((x) => x.all))}), main thread ${median(ratios((x) => x.thread)).toFixed(2)} (${spread(ratios((x) => x.thread))}), calls/s ${median(ratios((x) => x.rate)).toFixed(2)} (${spread(ratios((x) => x.rate))})`,
  );
}
setup.close();
process.stdout.write(`${out.join("\n")}\n`);

import type { BenchConfig } from "../config.js";
import { fairness } from "./fairness.js";
import { gatewayUnary } from "./gateway.js";
import { goAnchors } from "./go-anchor.js";
import { instrumentation } from "./instrumentation.js";
import { manyStreams } from "./many-streams.js";
import { pingPong } from "./pingpong.js";
import { relayUnary } from "./relay.js";
import { reverseUnary } from "./reverse.js";
import { streamThroughput } from "./streaming.js";
import { unaryLatency, unaryThroughput } from "./unary.js";
import type { Workload } from "./workload.js";

/** Every workload, in run (and report) order: one process first, then two. */
export function allWorkloads(config: BenchConfig): Workload[] {
  const workloads: Workload[] = [];
  if (config.processes.includes(1)) {
    workloads.push(
      unaryLatency(1),
      unaryThroughput(32, 1),
      unaryThroughput(256, 1),
      ...config.streamSizes.map((size) => streamThroughput("server", size, 1)),
      ...config.streamSizes.map((size) => streamThroughput("client", size, 1)),
      pingPong(1),
      manyStreams(config.streamCheckpoints),
      fairness(1),
      reverseUnary(config.reverseAgents),
      relayUnary,
      gatewayUnary,
      instrumentation,
      ...(config.goAnchors ? goAnchors : []),
    );
  }
  if (config.processes.includes(2)) {
    // What the targets are about, with the server in a process of its own
    // (the memory and reverse workloads already split their ends).
    workloads.push(
      unaryLatency(2),
      unaryThroughput(32, 2),
      ...config.twoProcessStreamSizes.map((size) => streamThroughput("server", size, 2)),
      ...config.twoProcessStreamSizes.map((size) => streamThroughput("client", size, 2)),
      pingPong(2),
      fairness(2),
    );
  }
  return workloads;
}

import type { BenchConfig } from "../config.js";
import { fairness } from "./fairness.js";
import { instrumentation } from "./instrumentation.js";
import { manyStreams } from "./many-streams.js";
import { pingPong } from "./pingpong.js";
import { relayUnary } from "./relay.js";
import { reverseUnary } from "./reverse.js";
import { streamThroughput } from "./streaming.js";
import { unaryLatency, unaryThroughput } from "./unary.js";
import type { Workload } from "./workload.js";

/** Every workload, in run (and report) order. */
export function allWorkloads(config: BenchConfig): Workload[] {
  return [
    unaryLatency,
    unaryThroughput(32),
    unaryThroughput(256),
    ...config.streamSizes.map((size) => streamThroughput("server", size)),
    ...config.streamSizes.map((size) => streamThroughput("client", size)),
    pingPong,
    manyStreams(config.streamCheckpoints),
    fairness,
    reverseUnary(config.reverseAgents),
    relayUnary,
    instrumentation,
  ];
}

// What `npm run test:mutation` mutates, folder group by folder group, and the
// fast tests that judge each group's mutants (see docs/mutation-testing.md).
// Each group is one Stryker run; `break` is the score below which it fails.

const src = (path) => `runtime/src/${path}`;
const tests = (...paths) => paths.map((path) => `runtime/test/${path}.test.ts`);

/** The budget modules, mutated (and scored) with the drain and retry code, not with engine/. */
const BUDGETS = [src("engine/memory-budget.ts"), src("engine/memory-costs.ts")];

/**
 * Engine-level tests, on in-memory frame connections but for a few over
 * loopback grpc-js: fast enough to run per mutant on 2 shared cores.
 */
const ENGINE_TESTS = [
  ...tests(
    "conformance/client-engine.conformance",
    "conformance/server-engine.conformance",
    "client-engine-calls",
    "flow-control",
    "frame-writer",
    "idle-streams",
    "message-assembler",
    "number-ring",
    "receive-memory",
    "server-stream-aborted",
    "vectors-replay",
    "property/random-frames.property",
    "property/reassembly.property",
    "forward-lifecycle",
    "forward-flow-control",
    "forward-revision0",
    "forward-wire",
    "forward-metadata",
    "forward-messages",
    "handler-faults",
    "reverse-revisions",
    "shared-chunks",
    "faults/ending-tunnel",
    "tunnel-ends",
    "stream-api",
    "read-only",
    "send-window-floor",
    "observability/diagnostics",
    "limits",
    "server-stream-metadata",
    "stream-ends",
    "message-sending",
    "fifo",
    "tunnel-info",
    "receive-windows",
    "call-ends",
    "queue-failures",
    "send-memory",
  ),
];

/** @type {Record<string, { mutate: string[]; tests: string[]; break: number }>} */
export const TARGETS = {
  protocol: {
    mutate: [src("protocol/**/*.ts")],
    tests: [
      ...tests(
        "timeout",
        "bulk-encoding",
        "vectors-codec",
        "error-messages",
        "property/control-frame-codec.property",
        "property/frame-codec.property",
        "property/frame-decode.property",
        "property/reassembly.property",
        "status-codec",
        "chunk-sequence",
        "frame-codec-edges",
        "metadata-codec",
      ),
      ...ENGINE_TESTS,
    ],
    break: 85,
  },
  engine: {
    mutate: [src("engine/**/*.ts"), ...BUDGETS.map((path) => `!${path}`)],
    tests: [...ENGINE_TESTS, ...tests("memory-budget")],
    break: 85,
  },
  budgets: {
    mutate: [
      ...BUDGETS,
      src("api/tunnels/connection-budgets.ts"),
      src("api/tunnels/graceful-end.ts"),
      src("api/tunnels/live-tunnels.ts"),
      src("api/tunnels/tunnel-service-handler.ts"),
      src("api/retry/**/*.ts"),
    ],
    tests: [
      ...tests(
        "memory-budget",
        "memory-costs",
        "receive-memory",
        "drain",
        "replay-buffer",
        "call-waits",
        "graceful-end",
        "refused-retry",
        "wait-for-ready",
        "reverse-limits",
        "reverse-lifecycle",
        "reverse-routing",
        "reverse-registry",
        "security",
        "forward-calls",
        "retry-policy",
        "retry-hedging",
        "tunnel-client",
        "reverse-reconnect",
        "error-messages",
        "client-engine-calls",
        "retrying-call",
        "policy-call",
        "retry-policy-options",
        "list-tunnels",
      ),
    ],
    break: 80,
  },
  cluster: {
    mutate: [src("cluster/**/*.ts")],
    tests: tests(
      "cluster/directory",
      "cluster/wait-for",
      "cluster/route-cache",
      "cluster/relay-metadata",
      "cluster/relay-auth",
      "cluster/peer-tunnels",
      "cluster/routing",
      "cluster/stale-routes",
      "cluster/cluster-channel",
      "cluster/pending-removals",
      "cluster/redis-faults",
      "cluster/registration-waiters",
      "cluster/lease-refresh",
      "cluster/redis-connection",
      "cluster/cluster-options",
      "cluster/list-keys",
      "cluster/rebalance",
      "cluster/served-by",
      "cluster/relay-calls",
      "cluster/routing-faults",
      "cluster/relay-passthrough",
      "cluster/route-spread",
      "cluster/removal-bounds",
    ),
    break: 80,
  },
};

/** The group named by MUTATION_TARGET (set by scripts/mutation.mjs). */
export function currentTarget() {
  const name = process.env.MUTATION_TARGET ?? "";
  const target = TARGETS[name];
  if (target === undefined) {
    throw new Error(`MUTATION_TARGET must be one of ${Object.keys(TARGETS).join(", ")} (got "${name}")`);
  }
  return { name, ...target };
}

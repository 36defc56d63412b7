// A replica's directory in its own process, so a test can kill it with
// SIGKILL and watch its leases run out. Runs the built package (npm test
// builds it first). Arguments: url namespace replicaId leaseMs refreshMs key…
import { RedisAffinityDirectory } from "../../dist/cluster.js";

const [url, namespace, replicaId, leaseMs, refreshMs, ...keys] = process.argv.slice(2);
const directory = await RedisAffinityDirectory.open({
  url,
  namespace,
  replicaId,
  address: `relay-${replicaId}:7000`,
  leaseMs: Number(leaseMs),
  refreshMs: Number(refreshMs),
});
for (const key of keys) {
  directory.register(key);
}
// Thousands of registrations at once on a busy machine may outlast the
// command timeout; flush() re-asserts what failed in batches.
for (let tries = 1; ; tries++) {
  try {
    await directory.flush();
    break;
  } catch (e) {
    if (tries === 10) throw e;
  }
}
console.log("READY");
setInterval(() => {}, 1 << 30); // lives until killed

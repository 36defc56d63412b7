#!/usr/bin/env node
// Runs a vitest selection N times in a row and stops at the first failure:
//   node scripts/repeat.mjs --repeat 20 runtime/test/faults
// (vitest itself has --retry but no whole-run repeat.)
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
let times = 20;
const index = args.indexOf("--repeat");
if (index >= 0) {
  times = Number(args[index + 1]);
  args.splice(index, 2);
}
if (!Number.isInteger(times) || times < 1) {
  console.error("usage: repeat.mjs [--repeat N] <vitest filters...>");
  process.exit(2);
}
for (let run = 1; run <= times; run++) {
  const result = spawnSync("npx", ["vitest", "run", ...args], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  const summary = result.stdout.trim().split("\n").pop();
  console.log(`run ${run}/${times}: ${summary}`);
  if (result.status !== 0) {
    process.stdout.write(result.stdout);
    console.error(`failed on run ${run} of ${times}`);
    process.exit(1);
  }
}
console.log(`all ${times} runs passed`);

// `npm run demo`: the reverse-tunnel example, end to end, in one process.
// `npm run demo -- --status` also serves the control server's status page,
// prints its URL and keeps the devices connected until Ctrl-C.
import { runReverseDemo } from "./demo.js";

const args = process.argv.slice(2);
if (args.some((arg) => arg !== "--status")) {
  process.stderr.write("usage: npm run demo [-- --status]\n");
  process.exit(2);
}
if (args.includes("--status")) {
  const until = new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await runReverseDemo(console.log, { statusPage: { until } });
} else {
  await runReverseDemo();
}

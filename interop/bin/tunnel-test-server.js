#!/usr/bin/env node
// Runs the compiled program; build it first with `npx tsc -b` at the
// repository root (`npm run interop:server` does that).
import { main } from "../dist/programs/tunnel-test-server.js";

await main(process.argv.slice(2));

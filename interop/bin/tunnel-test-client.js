#!/usr/bin/env node
// Runs the compiled program; build it first with `npx tsc -b` at the
// repository root (`npm run interop:client` does that).
import { main } from "../dist/programs/tunnel-test-client.js";

await main(process.argv.slice(2));

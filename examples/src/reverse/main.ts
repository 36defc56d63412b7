// `npm run demo`: the reverse-tunnel example, end to end, in one process.
import { runReverseDemo } from "./demo.js";

await runReverseDemo();

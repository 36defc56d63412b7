// The forward-tunnel example: `node examples/dist/forward/main.js`.
import { runForwardDemo } from "./demo.js";

await runForwardDemo();

// `npm run demo:gateway`: a control server with a tunnel gateway, two
// agents, and a grpc-js caller in another process that calls them by key.
import { runGatewayDemo } from "./demo.js";

await runGatewayDemo();

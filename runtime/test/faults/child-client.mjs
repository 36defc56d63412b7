// A network client in its own process, so a test can kill it with SIGKILL:
// `reverse` serves TestService over a reverse tunnel, `forward` holds a
// forward tunnel open. Argv: <mode> <port> <test-run mark>. Prints READY
// once its tunnel is open. Runs the built packages (npm test builds them first).
import { TestService, testServiceImpl } from "../../../interop/dist/index.js";
import { openTunnel, ReverseTunnelServer, TunnelServiceClient } from "../../dist/index.js";
import * as grpc from "@grpc/grpc-js";

const [mode, port, mark] = process.argv.slice(2);
const client = new TunnelServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
const metadata = { "test-run": mark, "agent-key": mark, "agent-name": mark };
if (mode === "reverse") {
  const rts = new ReverseTunnelServer(client);
  rts.registerService(TestService, testServiceImpl);
  void rts.serve({ metadata });
  console.log("READY");
} else {
  await openTunnel(client, { metadata });
  console.log("READY");
}

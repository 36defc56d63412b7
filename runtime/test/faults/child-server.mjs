// A tunnel server in its own process, so a test can kill it with SIGKILL.
// Runs the built packages (npm test builds them first).
import * as grpc from "@grpc/grpc-js";
import { TunnelServiceHandler } from "../../dist/index.js";
import { TestService, testServiceImpl } from "../../../interop/dist/index.js";

const handler = new TunnelServiceHandler();
handler.registerService(TestService, testServiceImpl);
const server = new grpc.Server();
server.addService(...handler.service());
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`PORT ${port}`);
});

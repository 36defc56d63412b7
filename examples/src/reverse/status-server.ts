import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { TunnelServiceHandler } from "@protoc-gen-tunnel/runtime";
import { tunnelStatusPage } from "@protoc-gen-tunnel/runtime/status";

/** The control server's status page on its own loopback port: an admin endpoint, not for the agents' network. */
export interface StatusServer {
  url: string;
  stop(): Promise<void>;
}

export async function startStatusServer(handler: TunnelServiceHandler<string>): Promise<StatusServer> {
  const page = tunnelStatusPage(handler, { title: "Control server: connected devices" });
  const server = http.createServer(page);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        page.close(); // ends the pages' live-update streams, so close() does not wait for them
        server.close(() => resolve());
      }),
  };
}

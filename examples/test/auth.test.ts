import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Code, ReverseTunnelServer, TunnelServiceClient, TunnelServiceHandler, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import {
  AUTHENTICATED_DEVICE_HEADER,
  authenticatedDevice,
  deviceAuthInterceptor,
  deviceTunnelOptions,
  issueDeviceToken,
} from "../src/auth/device-auth.js";
import { agentServiceClientForKey, registerAgentService } from "../src/gen/agent/v1/agent_tunnel.js";

const SECRET = "test-secret";
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function secureServer() {
  const opened: TunnelChannel[] = [];
  const handler = new TunnelServiceHandler<string>({ ...deviceTunnelOptions(), onReverseTunnelOpen: (t) => opened.push(t) });
  const server = new grpc.Server({ interceptors: [deviceAuthInterceptor(SECRET)] });
  server.addService(...handler.service());
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  cleanups.push(() => server.forceShutdown());
  return { handler, opened, address: `127.0.0.1:${port}` };
}

/** An agent that answers GetStatus with its own name, so we can see who served a call. */
function agent(address: string, name: string, metadata: Record<string, string>) {
  const client = new TunnelServiceClient(address, grpc.credentials.createInsecure());
  const server = new ReverseTunnelServer(client);
  registerAgentService(server, { getStatus: () => ({ firmware: name }) });
  const abort = new AbortController();
  const serving = server.serve({ metadata, signal: abort.signal });
  cleanups.push(async () => {
    abort.abort();
    await serving;
    client.close();
  });
  return serving;
}

describe("authenticated reverse tunnels", () => {
  it("keys each tunnel by the verified identity, so a client cannot take another's key", async () => {
    const { handler, opened, address } = await secureServer();
    void agent(address, "honest", { authorization: `Bearer ${issueDeviceToken(SECRET, "dev-a")}` });
    // A genuine device B that claims to be A, in both the header the server
    // trusts and a plain device-id.
    void agent(address, "impostor", {
      authorization: `Bearer ${issueDeviceToken(SECRET, "dev-b")}`,
      [AUTHENTICATED_DEVICE_HEADER]: "dev-a",
      "device-id": "dev-a",
    });
    await handler.keyAsChannel("dev-a").waitForReady();
    await handler.keyAsChannel("dev-b").waitForReady();
    expect(opened.map(authenticatedDevice).sort()).toEqual(["dev-a", "dev-b"]);
    for (let i = 0; i < 6; i++) {
      expect((await agentServiceClientForKey(handler, "dev-a").getStatus({})).firmware).toBe("honest");
    }
    expect((await agentServiceClientForKey(handler, "dev-b").getStatus({})).firmware).toBe("impostor");
  });

  it("keeps one tunnel per device: the device's newer tunnel replaces its older one, other devices keep theirs", async () => {
    const { handler, address } = await secureServer();
    const token = (id: string) => ({ authorization: `Bearer ${issueDeviceToken(SECRET, id)}` });
    const first = agent(address, "first", token("dev-a"));
    void agent(address, "other", token("dev-b"));
    await handler.keyAsChannel("dev-a").waitForReady();
    await handler.keyAsChannel("dev-b").waitForReady();
    void agent(address, "second", token("dev-a"));
    const replaced = await first;
    expect(replaced).toMatchObject({ started: true, error: { code: Code.ABORTED } });
    expect((await agentServiceClientForKey(handler, "dev-a").getStatus({})).firmware).toBe("second");
    expect((await agentServiceClientForKey(handler, "dev-b").getStatus({})).firmware).toBe("other");
    expect(handler.allReverseTunnels().map(authenticatedDevice).sort()).toEqual(["dev-a", "dev-b"]);
  });

  it("refuses tunnels without a valid token", async () => {
    const { handler, address } = await secureServer();
    const forged = await agent(address, "forger", { authorization: `Bearer dev-a.${"00".repeat(32)}` });
    expect(forged.started).toBe(false);
    expect(forged.error?.code).toBe(Code.UNAUTHENTICATED);
    const anonymous = await agent(address, "anonymous", {});
    expect(anonymous.error?.code).toBe(Code.UNAUTHENTICATED);
    expect(handler.allReverseTunnels()).toHaveLength(0);
  });

  it("refuses an unauthenticated tunnel when the interceptor is missing, rather than guess a key", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: authenticatedDevice });
    const server = new grpc.Server();
    server.addService(...handler.service());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const bare = await agent(`127.0.0.1:${port}`, "bare", {});
    expect(bare.started).toBe(false); // refused before the tunnel RPC answered
    expect(bare.error?.code).toBe(Code.UNAUTHENTICATED);
    expect(handler.allReverseTunnels()).toHaveLength(0);
  });
});

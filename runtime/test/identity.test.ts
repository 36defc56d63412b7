// Identity over real TLS with client certificates generated at test time:
// handlers see the tunnel's authContext and peer as grpc-js handlers do, the
// affinity key comes from the verified certificate (never from what the
// client claims), and a device's tunnels can be revoked.
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, type HandlerContext, openTunnel, type TunnelChannel, TunnelError, unaryCall } from "../src/index.js";
import type { AuthContext } from "../src/protocol.js";
import { EventLog } from "./support/events.js";
import { AGENT_KEY, connectAgent, servedBy, startAgent, startHub, type Hub } from "./support/reverse.js";
import { Cleanup, tunnelClient } from "./support/servers.js";
import { createTestPki, type KeyPair, type TestPki } from "./support/tls.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

let pki: TestPki;
beforeAll(() => {
  pki = createTestPki();
});
afterAll(() => pki.remove());

/** The subject CN of the verified client certificate: the only identity the hub trusts. */
function certificateName(auth: AuthContext | undefined): string | undefined {
  const cn = auth?.sslPeerCertificate?.subject?.CN;
  return typeof cn === "string" ? cn : undefined;
}

/** A hub on TLS that requires client certificates issued by the test CA; keys come from the certificate. */
async function tlsHub(revoked: Set<string> = new Set()): Promise<Hub<string> & { forwardContexts: EventLog<HandlerContext> }> {
  const forwardContexts = new EventLog<HandlerContext>();
  const hub = await startHub<string>(cleanup, {
    serverCredentials: grpc.ServerCredentials.createSsl(pki.ca, [{ private_key: pki.server.key, cert_chain: pki.server.cert }], true),
    affinityKey: (tunnel) => {
      const name = certificateName(tunnel.authContext);
      if (name === undefined) {
        throw new TunnelError(Code.UNAUTHENTICATED, "a verified client certificate is required");
      }
      if (revoked.has(name)) {
        throw new TunnelError(Code.PERMISSION_DENIED, `certificate of ${name} is revoked`);
      }
      return name;
    },
  });
  hub.handler.registerService(TestService, {
    ...testServiceImpl,
    unary: (req, ctx) => {
      forwardContexts.push(ctx);
      return testServiceImpl.unary(req, ctx);
    },
  });
  return Object.assign(hub, { forwardContexts });
}

/** The server certificate names localhost (a TLS server name may not be an IP address). */
const tlsOptions: grpc.ClientOptions = { "grpc.ssl_target_name_override": "localhost" };

function credentialsOf(pair: KeyPair): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(pki.ca, pair.key, pair.cert);
}

describe("identity from TLS client certificates", () => {
  it("typed handlers see the tunnel's authContext and peer: the client's certificate on the server, the server's on the agent", async () => {
    const hub = await tlsHub();
    // Forward: the hub's handler sees the device's verified certificate.
    const client = tunnelClient(hub.address, tlsOptions, credentialsOf(pki.client("device-7")));
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client);
    cleanup.add(() => tunnel.close());
    await unaryCall(tunnel, TestService.method.unary, {});
    const forward = await hub.forwardContexts.waitFor();
    expect(forward.authContext.transportSecurityType).toBe("ssl");
    expect(certificateName(forward.authContext)).toBe("device-7");
    expect(forward.peer).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);

    // Reverse: the agent's handler sees the network server's certificate.
    const agentContexts = new EventLog<HandlerContext>();
    await connectAgent(cleanup, hub, {
      name: "device-8",
      credentials: credentialsOf(pki.client("device-8")),
      clientOptions: tlsOptions,
      impl: {
        unary: (req, ctx) => {
          agentContexts.push(ctx);
          return testServiceImpl.unary(req, ctx);
        },
      },
    });
    await unaryCall(hub.handler.keyAsChannel("device-8"), TestService.method.unary, {});
    const reverse = await agentContexts.waitFor();
    expect(reverse.authContext.transportSecurityType).toBe("ssl");
    expect(certificateName(reverse.authContext)).toBe("tunnel-server");
    expect(reverse.peer).toContain(String(hub.port));

    // Without TLS there is no transport security to report, as for grpc-js handlers.
    const plainHub = await startHub(cleanup);
    const plainContexts = new EventLog<HandlerContext>();
    await connectAgent(cleanup, plainHub, {
      name: "plain",
      impl: {
        unary: (req, ctx) => {
          plainContexts.push(ctx);
          return testServiceImpl.unary(req, ctx);
        },
      },
    });
    await unaryCall(plainHub.handler.keyAsChannel("plain"), TestService.method.unary, {});
    expect((await plainContexts.waitFor()).authContext).toEqual({});
  });

  it("the affinity key is the verified certificate's name; another device's certificate cannot take it", async () => {
    const hub = await tlsHub();
    const device1 = await connectAgent(cleanup, hub, {
      name: "device-1",
      credentials: credentialsOf(pki.client("device-1")),
      clientOptions: tlsOptions,
    });
    // device-2 claims device-1's key in its metadata: the key comes from its certificate instead.
    const device2Pair = pki.client("device-2");
    await connectAgent(cleanup, hub, {
      name: "device-2",
      key: "device-1",
      credentials: credentialsOf(device2Pair),
      clientOptions: tlsOptions,
    });
    const keys = hub.handler.allReverseTunnels().map((t) => [String(t.metadata.get(AGENT_KEY)[0]), certificateName(t.authContext)]);
    expect(keys).toEqual([
      ["device-1", "device-1"],
      ["device-1", "device-2"],
    ]);
    for (let i = 0; i < 4; i++) {
      expect(servedBy(await unaryCall(hub.handler.keyAsChannel("device-1"), TestService.method.unary, {}))).toBe("device-1");
    }
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("device-2"), TestService.method.unary, {}))).toBe("device-2");

    // Presenting device-1's certificate takes its private key: TLS will not even build credentials without it.
    expect(() => credentialsOf({ cert: pki.client("device-1").cert, key: device2Pair.key })).toThrow(/key values mismatch/);
    // A certificate named device-1 that the CA did not issue fails the handshake.
    const impostor = startAgent(cleanup, hub.address, {
      name: "impostor",
      key: "device-1",
      credentials: credentialsOf(pki.selfSigned("device-1")),
      clientOptions: tlsOptions,
    });
    const result = await impostor.serving;
    expect(result.started).toBe(false);
    expect(result.error?.code).toBe(Code.UNAVAILABLE);
    expect(hub.opened.items.map((t) => certificateName(t.authContext))).toEqual(["device-1", "device-2"]);
    expect(hub.handler.keyAsChannel("device-1").ready()).toBe(true);
    expect(device1.tunnel.closed).toBe(false);
  });

  it("closeReverseTunnels revokes a device's open tunnels; with the revocation in affinityKey it cannot come back", async () => {
    const revoked = new Set<string>();
    const hub = await tlsHub(revoked);
    const pair = pki.client("device-3");
    const first = await connectAgent(cleanup, hub, { name: "device-3", credentials: credentialsOf(pair), clientOptions: tlsOptions });
    const second = await connectAgent(cleanup, hub, { name: "device-3b", credentials: credentialsOf(pair), clientOptions: tlsOptions });
    const other = await connectAgent(cleanup, hub, {
      name: "device-4",
      credentials: credentialsOf(pki.client("device-4")),
      clientOptions: tlsOptions,
    });

    revoked.add("device-3");
    const status = new TunnelError(Code.PERMISSION_DENIED, "certificate of device-3 is revoked");
    expect(hub.handler.closeReverseTunnels("device-3", status)).toBe(2);
    for (const agent of [first, second]) {
      expect(await agent.serving).toMatchObject({ started: true, error: { code: Code.PERMISSION_DENIED, rawMessage: status.rawMessage } });
    }
    expect(hub.handler.allReverseTunnels()).toEqual([other.tunnel]);
    const again = startAgent(cleanup, hub.address, { name: "device-3c", credentials: credentialsOf(pair), clientOptions: tlsOptions });
    expect(await again.serving).toMatchObject({ started: false, error: { code: Code.PERMISSION_DENIED } });
    expect(hub.handler.keyAsChannel("device-3").ready()).toBe(false);
    const closed: TunnelChannel[] = hub.closed.items;
    expect(closed.map((t) => certificateName(t.authContext)).sort()).toEqual(["device-3", "device-3"]);
  });
});

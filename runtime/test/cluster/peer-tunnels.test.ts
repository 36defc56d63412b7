// The relay tunnels from one replica to another: several per peer, opened
// together, each call on the least busy; one ending leaves the others in
// use, and the peer is opened anew only once all have ended.
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Code, type TunnelChannel, TunnelError } from "../../src/index.js";
import { joinCluster } from "../../src/cluster.js";
import { PeerTunnels } from "../../src/cluster/relay/index.js";
import { RelayListener } from "../../src/cluster/relay/index.js";
import { resolveLimits } from "../../src/engine/limits.js";
import type { ServerStream } from "../../src/engine/server-stream.js";
import { deferred } from "../../src/deferred.js";
import { tunnelServiceDefinition } from "../../src/protocol.js";
import { clusterPerTest } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { TEST_SECRET } from "../support/replicas.js";
import { Cleanup, startServer } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());
const newCluster = clusterPerTest();

/** A relay listener whose calls stay open until the test ends them: the streams it accepted. */
async function heldRelay(): Promise<{ address: string; accepted: ServerStream[] }> {
  const accepted: ServerStream[] = [];
  const relay = new RelayListener(TEST_SECRET);
  relay.serve({ limits: resolveLimits(undefined), calls: async (stream) => void accepted.push(stream) });
  const server = await startServer((s) => s.addService(...relay.service()));
  cleanup.add(() => server.kill());
  cleanup.add(() => relay.close());
  return { address: server.address, accepted };
}

function peerTunnels(tunnelsPerPeer: number, secret = TEST_SECRET): PeerTunnels {
  const peers = new PeerTunnels({
    secret,
    credentials: grpc.credentials.createInsecure(),
    channelOptions: {},
    limits: resolveLimits(undefined),
    connectTimeoutMs: 5_000,
    tunnelsPerPeer,
  });
  cleanup.add(() => peers.close());
  return peers;
}

const signal = () => AbortSignal.timeout(10_000);

describe("relay tunnels to a peer", () => {
  it("opens tunnelsPerPeer tunnels together and starts each call on the least busy", async () => {
    const relay = await heldRelay();
    const peers = peerTunnels(3);
    const first = await peers.tunnel(relay.address, signal());
    // The others open in the background.
    await expect.poll(() => peers.openCount(relay.address)).toBe(3);
    // Asking again uses one of them: no more are opened.
    expect((await peers.tunnel(relay.address, signal())).closed).toBe(false);
    expect(peers.openCount(relay.address)).toBe(3);
    const used: TunnelChannel[] = [];
    for (let i = 0; i < 6; i++) {
      const tunnel = peers.current(relay.address)!;
      tunnel.startCall("/test.Held/Call").closeSend();
      used.push(tunnel);
    }
    // Three tunnels, two calls each: the least busy took every call.
    expect(new Set(used).size).toBe(3);
    expect(used).toContain(first);
    expect(used.map((t) => t.activeCalls)).toEqual([2, 2, 2, 2, 2, 2]);
    // Calls started on different tunnels reach the peer.
    await expect.poll(() => relay.accepted.length).toBe(6);
  });

  it("a tunnel that ends leaves the others in use; the peer is opened anew once all have ended", async () => {
    const relay = await heldRelay();
    const peers = peerTunnels(2);
    await peers.tunnel(relay.address, signal());
    await expect.poll(() => peers.openCount(relay.address)).toBe(2);
    const one = peers.current(relay.address)!;
    one.startCall("/test.Held/Call"); // busy: the next pick is the other one
    const other = peers.current(relay.address)!;
    expect(other).not.toBe(one);
    one.close();
    expect(peers.openCount(relay.address)).toBe(1); // closed at once, before its end is reported
    await one.done;
    expect(peers.openCount(relay.address)).toBe(1);
    for (let i = 0; i < 4; i++) {
      expect(peers.current(relay.address)).toBe(other);
    }
    other.close();
    await other.done;
    expect(peers.current(relay.address)).toBeUndefined();
    expect(peers.openCount(relay.address)).toBe(0);
    const reopened = await peers.tunnel(relay.address, signal());
    expect([one, other]).not.toContain(reopened);
    expect(reopened.closed).toBe(false);
  });

  it("a peer that refuses every tunnel fails the opening naming it and why; none is kept", async () => {
    const relay = await heldRelay();
    const peers = peerTunnels(3, `another-secret-${"x".repeat(16)}`);
    const result = await outcome(peers.tunnel(relay.address, signal()));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatchObject({
      code: Code.UNAUTHENTICATED,
      rawMessage: `relay at ${relay.address}: relay tunnels need the cluster's secret`,
    });
    expect(!result.ok && (result.error as TunnelError).cause).toMatchObject({ code: Code.UNAUTHENTICATED });
    expect(peers.current(relay.address)).toBeUndefined();
    expect(peers.openCount(relay.address)).toBe(0);
  });

  it("close() closes every tunnel to every peer; later openings reject UNAVAILABLE", async () => {
    const [r1, r2] = await Promise.all([heldRelay(), heldRelay()]);
    const peers = peerTunnels(2);
    const t1 = await peers.tunnel(r1.address, signal());
    const t2 = await peers.tunnel(r2.address, signal());
    await expect.poll(() => peers.openCount(r1.address) + peers.openCount(r2.address)).toBe(4);
    expect(peers.closing).toBe(false);
    peers.close();
    expect(peers.closing).toBe(true);
    await Promise.all([t1.done, t2.done]);
    expect(peers.openCount(r1.address) + peers.openCount(r2.address)).toBe(0);
    expect(await outcome(peers.tunnel(r1.address, signal()))).toMatchObject({
      ok: false,
      error: { code: Code.UNAVAILABLE, rawMessage: "the cluster is closed" },
    });
  });

  it("a call the peer refuses (UNAVAILABLE: it lost the key) leaves the tunnel in use, not draining", async () => {
    const relay = new RelayListener(TEST_SECRET);
    relay.serve({
      limits: resolveLimits(undefined),
      calls: async (stream) => stream.reject(new TunnelError(Code.UNAVAILABLE, "no tunnel for this key here")),
    });
    const server = await startServer((s) => s.addService(...relay.service()));
    cleanup.add(() => server.kill());
    cleanup.add(() => relay.close());
    const peers = peerTunnels(1);
    const tunnel = await peers.tunnel(server.address, signal());
    const call = tunnel.startCall("/test.Lost/Call");
    call.closeSend();
    const end = await call.done;
    expect(end).toMatchObject({ refused: true, error: { code: Code.UNAVAILABLE } });
    expect(tunnel.draining).toBe(false);
    expect(peers.current(server.address)).toBe(tunnel);
  });

  it("an opening under way when close() is called fails UNAVAILABLE and keeps no tunnel", async () => {
    const relay = await heldRelay();
    const peers = peerTunnels(2);
    const opening = outcome(peers.tunnel(relay.address, signal()));
    peers.close();
    const result = await opening;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(peers.openCount(relay.address)).toBe(0);
  });

  it("a peer that does not answer within connectTimeoutMs fails the opening naming it; none is kept", async () => {
    // Accepts TCP connections and says nothing: no HTTP/2, no tunnel.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanup.add(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    silent.on("connection", (socket) => cleanup.add(() => void socket.destroy()));
    const address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const peers = new PeerTunnels({
      secret: TEST_SECRET,
      credentials: grpc.credentials.createInsecure(),
      channelOptions: {},
      limits: resolveLimits(undefined),
      connectTimeoutMs: 200,
      tunnelsPerPeer: 2,
    });
    cleanup.add(() => peers.close());
    expect(await outcome(peers.tunnel(address, signal()))).toMatchObject({
      ok: false,
      error: { code: Code.UNAVAILABLE, rawMessage: `relay at ${address}: no answer within 200 ms` },
    });
    expect(peers.openCount(address)).toBe(0);
  });

  it("concurrent callers share one opening: each gets an open tunnel, and tunnelsPerPeer are opened in all", async () => {
    const relay = await heldRelay();
    const peers = peerTunnels(2);
    const got = await Promise.all([1, 2, 3].map(() => peers.tunnel(relay.address, signal())));
    expect(got.every((tunnel) => !tunnel.closed)).toBe(true);
    await expect.poll(() => peers.openCount(relay.address)).toBe(2);
  });

  it("an opening the peer answers only after close() fails UNAVAILABLE and keeps no tunnel", async () => {
    const asked = deferred<void>();
    const answer = deferred<void>();
    const server = await startServer((s) =>
      s.addService(tunnelServiceDefinition, {
        openTunnel: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
          call.on("error", () => {});
          call.on("data", () => {});
          asked.resolve();
          void answer.promise.then(() => call.sendMetadata(new grpc.Metadata())); // no negotiation: open at once
        },
        openReverseTunnel: () => {},
      }),
    );
    cleanup.add(() => server.kill());
    const peers = peerTunnels(1);
    const opening = outcome(peers.tunnel(server.address, signal()));
    await asked.promise;
    peers.close();
    answer.resolve();
    expect(await opening).toMatchObject({
      ok: false,
      error: { code: Code.UNAVAILABLE, rawMessage: expect.stringMatching(/the cluster is closed/) },
    });
    expect(peers.openCount(server.address)).toBe(0);
  });

  it("joinCluster takes tunnelsPerPeer as a whole number >= 1", async () => {
    const c = newCluster();
    const relay = { address: "127.0.0.1:1", secret: TEST_SECRET };
    await expect(joinCluster({ relay: { ...relay, tunnelsPerPeer: 0 }, redisUrl: c.url })).rejects.toThrow(RangeError);
    await expect(joinCluster({ relay: { ...relay, tunnelsPerPeer: 1.5 }, redisUrl: c.url })).rejects.toThrow(
      /tunnelsPerPeer must be a whole number >= 1/,
    );
  });
});

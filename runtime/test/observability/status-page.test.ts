import * as diagnosticsChannel from "node:diagnostics_channel";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { createTunnelClient, openTunnel, type TunnelInfo } from "../../src/index.js";
import { DIAGNOSTICS_CHANNELS } from "../../src/protocol.js";
import { tunnelStatusPage, type StatusPageOptions, type StatusSnapshot } from "../../src/status.js";
import { eventStream, request, serveHttp } from "../support/http-page.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { Cleanup, tunnelClient } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const HOSTILE_KEY = `<script>alert("key")</script>&'`;

/** A hub with forward TestService too, its status page on an HTTP server. */
async function hubWithPage(options: StatusPageOptions = {}) {
  const hub = await startHub(cleanup);
  hub.handler.registerService(TestService, testServiceImpl);
  const page = tunnelStatusPage(hub.handler, options);
  cleanup.add(() => page.close());
  const base = await serveHttp(cleanup, page);
  return { hub, page, base };
}

interface Update {
  reverseRows: string;
  reverseCount: number;
  reverseKeys: number;
  forwardRows: string;
  forwardCount: number;
}

describe("status page", () => {
  it("serves the tunnels as JSON: reverse by key with peer, revision, age, calls and bytes; forward tunnels", async () => {
    const { hub, base } = await hubWithPage();
    const agent = await connectAgent(cleanup, hub, { name: "camera-3", serve: { metadata: { authorization: "Bearer s3cret" } } });
    await createTunnelClient(TestService, hub.handler.keyAsChannel("camera-3")).unary({ payload: new Uint8Array(100) });
    const client = tunnelClient(hub.address);
    cleanup.add(() => client.close());
    const forward = await openTunnel(client);
    cleanup.add(() => forward.close());

    const res = await request(`${base}/status.json`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("no-store");
    const snapshot = JSON.parse(res.body) as StatusSnapshot;
    expect(snapshot.reverse.map((g) => g.key)).toEqual(["camera-3"]);
    const [tunnel] = snapshot.reverse[0]!.tunnels;
    expect(tunnel).toMatchObject({ role: "client", direction: "reverse", protocolRevision: 1, activeCalls: 0 });
    expect(tunnel!.peer).toMatch(/127\.0\.0\.1:\d+$/);
    expect(tunnel!.bytesSent).toBe(102); // the request: 100 payload bytes after their tag and length
    expect(tunnel!.bytesReceived).toBeGreaterThan(100);
    expect(tunnel!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(tunnel!.openedAt)).toBeLessThanOrEqual(Date.parse(snapshot.generatedAt));
    expect(snapshot.forward).toHaveLength(1);
    expect(snapshot.forward[0]).toMatchObject({ role: "server", direction: "forward" });
    // No metadata leaves the process unless the operator asks for it.
    expect(tunnel!.metadata).toBeUndefined();
    expect(res.body).not.toContain("s3cret");
    expect((await request(`${base}/`)).body).not.toContain("s3cret");

    agent.rts.stop();
    await hub.closedTunnelOf("camera-3");
    expect((JSON.parse((await request(`${base}/status.json`)).body) as StatusSnapshot).reverse).toEqual([]);
  });

  it("escapes everything it renders: affinity keys come from clients", async () => {
    const { hub, base } = await hubWithPage({ title: "<b>fleet</b>" });
    await connectAgent(cleanup, hub, { name: "evil", key: HOSTILE_KEY });
    const page = await request(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).toContain("&lt;script&gt;alert(&quot;key&quot;)&lt;/script&gt;&amp;&#39;");
    expect(page.body).not.toContain("<script>alert");
    expect(page.body).toContain("<title>&lt;b&gt;fleet&lt;/b&gt;</title>");
    const snapshot = JSON.parse((await request(`${base}/status.json`)).body) as StatusSnapshot;
    expect(snapshot.reverse[0]!.key).toBe(HOSTILE_KEY); // JSON carries the key as it is

    const events = await eventStream<Update>(cleanup, `${base}/events`);
    const first = await events.messages.waitFor();
    expect(first.reverseRows).toContain("&lt;script&gt;");
    expect(first.reverseRows).not.toContain("<script>");
  });

  it("shows tunnel metadata only through the operator's formatter", async () => {
    const metadata = (t: TunnelInfo) => ({ agent: String(t.metadata.get("agent-name")[0]) });
    const { hub, base } = await hubWithPage({ metadata, formatKey: (key) => `device ${String(key)}` });
    await connectAgent(cleanup, hub, { name: "a<1>", serve: { metadata: { authorization: "Bearer s3cret" } } });
    const snapshot = JSON.parse((await request(`${base}/status.json`)).body) as StatusSnapshot;
    expect(snapshot.reverse[0]!.key).toBe("device a<1>");
    expect(snapshot.reverse[0]!.tunnels[0]!.metadata).toEqual({ agent: "a<1>" });
    const page = (await request(`${base}/`)).body;
    expect(page).toContain("<th>metadata</th>");
    expect(page).toContain("agent=a&lt;1&gt;");
    expect(page).not.toContain("s3cret");
  });

  it("pushes updates over Server-Sent Events when agents come and go, and when figures change", async () => {
    const { hub, base } = await hubWithPage({ refreshMs: 50 });
    await connectAgent(cleanup, hub, { name: "a1" });
    const events = await eventStream<Update>(cleanup, `${base}/events`);
    expect(events.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect((await events.messages.waitFor()).reverseCount).toBe(1);

    const second = await connectAgent(cleanup, hub, { name: "a2" });
    const two = await events.messages.waitFor((u) => u.reverseCount === 2);
    expect(two.reverseKeys).toBe(2);
    expect(two.reverseRows).toContain('data-key="a2"');

    const held = createTunnelClient(TestService, hub.handler.keyAsChannel("a2")).serverStream({ count: 2, delayMillis: 60_000 });
    const reading = held[Symbol.asyncIterator]()
      .next()
      .catch(() => undefined);
    const busy = await events.messages.waitFor((u) => /class="calls">1</.test(u.reverseRows));
    expect(busy.reverseCount).toBe(2);

    second.rts.stop();
    await reading;
    const one = await events.messages.waitFor(
      (u) => u.reverseCount === 1 && events.messages.items.indexOf(u) > events.messages.items.indexOf(busy),
    );
    expect(one.reverseRows).toContain('data-key="a1"');
    expect(one.reverseRows).not.toContain('data-key="a2"');
  });

  it("shows an agent's own reverse tunnels when given a ReverseTunnelServer", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1" });
    const page = tunnelStatusPage(agent.rts);
    cleanup.add(() => page.close());
    const base = await serveHttp(cleanup, page);
    const snapshot = JSON.parse((await request(`${base}/status.json`)).body) as StatusSnapshot;
    expect(snapshot.reverse).toHaveLength(1);
    expect(snapshot.reverse[0]!.key).toBe(""); // the agent side has no affinity key
    expect(snapshot.reverse[0]!.tunnels[0]).toMatchObject({ role: "server", direction: "reverse", peer: hub.address });
    expect((await request(`${base}/`)).body).toContain('<td class="key">(none)</td>');
  });

  it("answers 404 elsewhere, 405 to other methods, HEAD without a body; redirects to its base path", async () => {
    const hub = await startHub(cleanup);
    const page = tunnelStatusPage(hub.handler, { basePath: "/admin/tunnels/" });
    cleanup.add(() => page.close());
    const base = await serveHttp(cleanup, page);
    expect((await request(`${base}/admin/tunnels/`)).status).toBe(200);
    expect((await request(`${base}/admin/tunnels/status.js`)).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect((await request(`${base}/admin/tunnels/status.css`)).status).toBe(200);
    expect((await request(`${base}/status.json`)).status).toBe(404);
    expect((await request(`${base}/admin/tunnels/secret`)).status).toBe(404);
    const moved = await request(`${base}/admin/tunnels`);
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe("/admin/tunnels/");
    const post = await request(`${base}/admin/tunnels/status.json`, "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    const head = await request(`${base}/admin/tunnels/status.json`, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);
    expect(() => tunnelStatusPage(hub.handler, { basePath: "admin" })).toThrow(RangeError);
  });

  it("watches tunnels only while a page is open; close() ends the streams and later requests get 503", async () => {
    const hub = await startHub(cleanup);
    const page = tunnelStatusPage(hub.handler);
    const base = await serveHttp(cleanup, page);
    const watching = () => diagnosticsChannel.hasSubscribers(DIAGNOSTICS_CHANNELS.tunnelOpen);
    expect(watching()).toBe(false);
    const events = await eventStream<Update>(cleanup, `${base}/events`);
    await events.messages.waitFor();
    expect(watching()).toBe(true);
    page.close();
    await events.ended;
    expect(watching()).toBe(false);
    expect((await request(`${base}/status.json`)).status).toBe(503);
  });
});

// The status page's bounds (issue #25): pages of a fleet instead of the
// whole fleet, refreshes that coalesce, a cap on live pages, and failures
// in a refresh that are logged once and never thrown.
import * as diagnosticsChannel from "node:diagnostics_channel";
import { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { TunnelInfo } from "../../src/index.js";
import { DIAGNOSTICS_CHANNELS } from "../../src/protocol.js";
import { tunnelStatusPage, type StatusPageOptions, type StatusSnapshot, type TunnelSource } from "../../src/status.js";
import { EventLog } from "../support/events.js";
import { eventStream, request, serveHttp } from "../support/http-page.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Update {
  reverseRows: string;
  reverseCount: number;
  reverseKeys: number;
  forwardCount: number;
  pager: string;
  forwardNote: string;
}

let nextId = 1;

/** A tunnel as a source lists it (TunnelSource is the page's public input: any object that lists tunnels). */
function tunnelInfo(direction: "forward" | "reverse", affinityKey?: unknown): TunnelInfo {
  return {
    id: nextId++,
    role: direction === "reverse" ? "client" : "server",
    direction,
    peer: "ipv4:10.0.0.1:40000",
    metadata: new Metadata(),
    affinityKey,
    openedAt: new Date(),
    protocolRevision: 1,
    activeCalls: 0,
    bytesSent: 0,
    bytesReceived: 0,
    closed: false,
  };
}

/** A fleet of `keys` reverse tunnels (and `forward` forward ones) that counts how often it is listed. */
class Fleet implements TunnelSource {
  readonly tunnels: TunnelInfo[] = [];
  /** One entry per listing. */
  readonly listings = new EventLog<number>();
  failing: Error | undefined;

  get listed(): number {
    return this.listings.items.length;
  }

  constructor(keys: number, forward = 0) {
    for (let i = 0; i < keys; i++) this.tunnels.push(tunnelInfo("reverse", `device-${String(i).padStart(6, "0")}`));
    for (let i = 0; i < forward; i++) this.tunnels.push(tunnelInfo("forward"));
  }

  listTunnels(): TunnelInfo[] {
    this.listings.push(this.listed + 1);
    if (this.failing !== undefined) throw this.failing;
    return [...this.tunnels];
  }
}

/** The page on an HTTP server; `closed` has the URL of each response once the page has seen it close. */
async function pageOf(source: TunnelSource, options: StatusPageOptions = {}) {
  const page = tunnelStatusPage(source, options);
  cleanup.add(() => page.close());
  const closed = new EventLog<string>();
  const base = await serveHttp(cleanup, (req, res) => {
    page(req, res);
    res.on("close", () => closed.push(req.url ?? "")); // after the page's own listener
  });
  return { page, base, closed };
}

async function json(url: string): Promise<StatusSnapshot> {
  return JSON.parse((await request(url)).body) as StatusSnapshot;
}

const keysOf = (snapshot: StatusSnapshot) => snapshot.reverse.map((g) => g.key);

describe("status page bounds", () => {
  it("shows a page of the reverse tunnels in key order, with the counts of all; pages past the end show the last", async () => {
    const { base } = await pageOf(new Fleet(5, 3), { pageSize: 2 });
    const first = await json(`${base}/status.json`);
    expect(keysOf(first)).toEqual(["device-000000", "device-000001"]);
    expect(first).toMatchObject({ reverseTunnels: 5, reverseKeys: 5, forwardTunnels: 3 });
    expect(first.page).toEqual({ number: 1, count: 3, size: 2, filter: "", matchingTunnels: 5, matchingKeys: 5 });
    expect(first.forward).toHaveLength(2); // the first pageSize forward tunnels
    expect(keysOf(await json(`${base}/status.json?page=2`))).toEqual(["device-000002", "device-000003"]);
    const last = await json(`${base}/status.json?page=99`);
    expect(last.page.number).toBe(3);
    expect(keysOf(last)).toEqual(["device-000004"]);
    expect((await json(`${base}/status.json?page=-1`)).page.number).toBe(1);
    expect((await json(`${base}/status.json?page=two`)).page.number).toBe(1);
  });

  it("keeps only keys containing the filter; the HTML page has the pager and the filter form", async () => {
    const fleet = new Fleet(0);
    for (const key of ["camera-1", "camera-2", "camera-3", "thermostat-1", "lock<&>"]) fleet.tunnels.push(tunnelInfo("reverse", key));
    const { base } = await pageOf(fleet, { pageSize: 2 });
    const cameras = await json(`${base}/status.json?key=camera`);
    expect(keysOf(cameras)).toEqual(["camera-1", "camera-2"]);
    expect(cameras.page).toMatchObject({ count: 2, filter: "camera", matchingTunnels: 3, matchingKeys: 3 });
    expect(cameras.reverseTunnels).toBe(5);
    expect(keysOf(await json(`${base}/status.json?key=${encodeURIComponent("<&")}`))).toEqual(["lock<&>"]);

    const html = (await request(`${base}/?page=2&key=camera`)).body;
    expect(html).toContain('<input name="key" value="camera"');
    expect(html).toContain("tunnels 3–3 of 3 (on 3 keys), page 2 of 2");
    expect(html).toContain('<a rel="prev" href="?page=1&amp;key=camera">');
    expect(html).not.toContain('rel="next"');
    expect(html).toContain('data-key="camera-3"');
    expect(html).not.toContain('data-key="camera-1"');
    const hostile = (await request(`${base}/?key=${encodeURIComponent('"><script>x</script>')}`)).body;
    expect(hostile).not.toContain("<script>x");
    expect(hostile).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });

  it("keeps every response small for a fleet of 100,000 keys", async () => {
    const fleet = new Fleet(100_000, 5_000);
    const { base } = await pageOf(fleet);
    const html = await request(`${base}/`);
    const status = await request(`${base}/status.json?page=500`);
    const events = await eventStream<Update>(cleanup, `${base}/events?page=1000`);
    const update = await events.messages.waitFor();
    const snapshot = JSON.parse(status.body) as StatusSnapshot;
    expect(snapshot.page).toMatchObject({ number: 500, count: 1_000, size: 100, matchingTunnels: 100_000 });
    expect(snapshot.reverse).toHaveLength(100);
    expect(snapshot.forward).toHaveLength(100);
    expect(update).toMatchObject({
      reverseCount: 100_000,
      reverseKeys: 100_000,
      forwardCount: 5_000,
      forwardNote: "(the first 100 shown)",
    });
    expect(update.reverseRows).toContain('data-key="device-099999"');
    expect(html.body.length).toBeLessThan(64 * 1024);
    expect(JSON.stringify(update).length).toBeLessThan(64 * 1024);
    expect(status.body.length).toBeLessThan(128 * 1024); // 200 tunnels, indented
  });

  it("cuts long keys in the HTML (the JSON has them whole)", async () => {
    const fleet = new Fleet(0);
    fleet.tunnels.push(tunnelInfo("reverse", `k${"x".repeat(50_000)}`));
    const { base } = await pageOf(fleet);
    const html = (await request(`${base}/`)).body;
    expect(html.length).toBeLessThan(8 * 1024);
    expect(html).toContain(`<td class="key">k${"x".repeat(254)}…</td>`);
    expect((await json(`${base}/status.json`)).reverse[0]!.key).toHaveLength(50_001);
  });

  it("refreshes once for the tunnel events of one turn", async () => {
    const fleet = new Fleet(10);
    const { base } = await pageOf(fleet, { refreshMs: 3_600_000 }); // no refresh on the clock during the test
    const events = await eventStream<Update>(cleanup, `${base}/events`);
    await events.messages.waitFor();
    const opened = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.tunnelOpen);
    const listedBefore = fleet.listed;
    for (let i = 0; i < 500; i++) {
      const tunnel = tunnelInfo("reverse", `new-${i}`);
      fleet.tunnels.push(tunnel);
      opened.publish({ tunnel });
    }
    const update = await events.messages.waitFor((u) => u.reverseCount === 510);
    expect(fleet.listed - listedBefore).toBe(1);
    expect(events.messages.items.indexOf(update)).toBe(1);
  });

  it("answers 503 beyond maxEventStreams live pages, and takes a new one once one leaves", async () => {
    const { base, closed } = await pageOf(new Fleet(1), { maxEventStreams: 2 });
    const first = await eventStream<Update>(cleanup, `${base}/events`);
    await eventStream<Update>(cleanup, `${base}/events`);
    const refused = await request(`${base}/events`);
    expect(refused.status).toBe(503);
    expect(refused.body).toBe("too many live status pages open\n");
    expect((await request(`${base}/status.json`)).status).toBe(200); // the rest of the page still answers
    first.close();
    await closed.waitForCount(2, (url) => url === "/events"); // the refused one, and this one
    const third = await eventStream<Update>(cleanup, `${base}/events`);
    expect((await third.messages.waitFor()).reverseCount).toBe(1);
  });

  it("a source that throws during a refresh is logged once per episode; the open pages and the process carry on", async () => {
    const warnings = new EventLog<string>();
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const fleet = new Fleet(1);
    const { base } = await pageOf(fleet, { refreshMs: 10 });
    const events = await eventStream<Update>(cleanup, `${base}/events`);
    await events.messages.waitFor();
    fleet.failing = new Error("backend gone");
    const listed = fleet.listed;
    await warnings.waitFor((w) => w.includes("status page: a refresh failed"));
    // Many more failed refreshes on the clock, one warning.
    await fleet.listings.waitForCount(listed + 5);
    expect(warnings.items.filter((w) => w.includes("status page"))).toEqual([
      "grpctunnel: status page: a refresh failed (logged again only after one succeeded): Error: backend gone",
    ]);
    expect((await request(`${base}/status.json`)).status).toBe(500);
    fleet.failing = undefined;
    fleet.tunnels.push(tunnelInfo("reverse", "back"));
    expect((await events.messages.waitFor((u) => u.reverseCount === 2)).reverseRows).toContain('data-key="back"');
    // A new failure after a refresh succeeded is a new episode: logged again.
    fleet.failing = new Error("gone again");
    expect(await warnings.waitFor((w) => w.includes("gone again"))).toMatch(/a refresh failed/);
  });
});

describe("status page pages, with real tunnels", () => {
  it("a live page shows its own page of keys, and follows the tunnels that come onto it", async () => {
    const hub = await startHub(cleanup);
    const { base } = await pageOf(hub.handler, { pageSize: 1, refreshMs: 50 });
    await connectAgent(cleanup, hub, { name: "a" });
    await connectAgent(cleanup, hub, { name: "c" });
    const second = await eventStream<Update>(cleanup, `${base}/events?page=2`);
    const shown = await second.messages.waitFor();
    expect(shown.reverseRows).toContain('data-key="c"');
    expect(shown.pager).toContain("page 2 of 2");
    await connectAgent(cleanup, hub, { name: "b" }); // sorts onto page 2, pushing c to page 3
    const moved = await second.messages.waitFor((u) => u.reverseCount === 3);
    expect(moved.reverseRows).toContain('data-key="b"');
    expect(moved.reverseRows).not.toContain('data-key="c"');
    expect(moved.pager).toContain("page 2 of 3");
    expect(moved.pager).toContain('rel="next" href="?page=3"');
  });
});

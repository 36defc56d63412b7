import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tunnelStatusPage } from "../../src/status.js";
import { serveHttp } from "../support/http-page.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { launchChromium } from "../support/chromium.js";
import { Cleanup } from "../support/servers.js";

let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
let browser: BrowserContext | undefined;

beforeAll(async () => {
  chromium = await launchChromium("the status page's browser test");
  browser = chromium.browser;
}, 60_000);

afterAll(() => chromium?.close());

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A page that fails the test on a script error, a console error (e.g. a CSP violation) or a dialog (injected script). */
async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage();
  cleanup.add(() => page.close());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("dialog", (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(url);
  return { page, problems };
}

/** Waits until the page says `n` reverse tunnels. (The page's CSP forbids eval, so waits are locators, not strings of code.) */
function reverseCountIs(page: Page, n: number): Promise<void> {
  return page.locator("#reverse-count", { hasText: new RegExp(`^${n}$`) }).waitFor();
}

describe("status page in a real browser (headless Chromium)", () => {
  it("shows a connected agent and updates live when a second one connects and when one leaves", async () => {
    const hub = await startHub(cleanup);
    const listener = tunnelStatusPage(hub.handler, { refreshMs: 100 });
    cleanup.add(() => listener.close());
    const base = await serveHttp(cleanup, listener);
    const first = await connectAgent(cleanup, hub, { name: "thermostat-7" });

    const { page, problems } = await openPage(`${base}/`);
    await page.locator('#state[data-state="live"]').waitFor();
    const rows = page.locator("#reverse tbody tr");
    expect(await rows.count()).toBe(1);
    await expect.poll(() => page.locator('tr[data-key="thermostat-7"] td.key').textContent()).toBe("thermostat-7");
    expect(await page.locator("#reverse-count").textContent()).toBe("1");
    expect(await page.locator('tr[data-key="thermostat-7"] td.revision').textContent()).toBe("client / rev 1");

    await connectAgent(cleanup, hub, { name: "camera-3" });
    await page.locator('tr[data-key="camera-3"]').waitFor();
    await reverseCountIs(page, 2);
    expect(await rows.count()).toBe(2);
    // Sorted by key.
    expect(await page.locator("#reverse tbody td.key").allTextContents()).toEqual(["camera-3", "thermostat-7"]);

    first.rts.stop();
    await page.locator('tr[data-key="thermostat-7"]').waitFor({ state: "detached" });
    await reverseCountIs(page, 1);
    expect(await page.locator("#reverse tbody td.key").allTextContents()).toEqual(["camera-3"]);

    // Ages advance between updates, in the browser.
    await page.locator('tr[data-key="camera-3"] td.age', { hasNotText: /^0 s$/ }).waitFor();
    expect(problems).toEqual([]);
  });

  it("renders a hostile affinity key as text: no script runs", async () => {
    const hub = await startHub(cleanup);
    const listener = tunnelStatusPage(hub.handler);
    cleanup.add(() => listener.close());
    const base = await serveHttp(cleanup, listener);
    const key = `<img src=x onerror="alert('img')"><script>alert('script')</script>`;
    const { page, problems } = await openPage(`${base}/`);
    await page.locator('#state[data-state="live"]').waitFor();
    await connectAgent(cleanup, hub, { name: "evil", key });
    await reverseCountIs(page, 1);
    expect(await page.locator("#reverse tbody td.key").textContent()).toBe(key);
    expect(await page.locator("#reverse img, #reverse script").count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it("pages through a fleet and filters it by key; the page shown stays live", async () => {
    const hub = await startHub(cleanup);
    const listener = tunnelStatusPage(hub.handler, { refreshMs: 100, pageSize: 2 });
    cleanup.add(() => listener.close());
    const base = await serveHttp(cleanup, listener);
    for (const name of ["camera-1", "camera-2", "lock-1"]) await connectAgent(cleanup, hub, { name });

    const { page, problems } = await openPage(`${base}/`);
    await page.locator('#state[data-state="live"]').waitFor();
    expect(await page.locator("#reverse tbody td.key").allTextContents()).toEqual(["camera-1", "camera-2"]);
    expect(await page.locator("#page-info").textContent()).toBe("tunnels 1–2 of 3 (on 3 keys), page 1 of 2");
    expect(await page.locator("#reverse-count").textContent()).toBe("3"); // the heading counts them all

    await page.locator('#pager a[rel="next"]').click();
    await page.waitForURL(/\?page=2$/);
    await page.locator('#state[data-state="live"]').waitFor();
    expect(await page.locator("#reverse tbody td.key").allTextContents()).toEqual(["lock-1"]);
    // A tunnel whose key sorts onto this page shows up live, and the pager follows.
    await connectAgent(cleanup, hub, { name: "lock-2" });
    await page.locator('tr[data-key="lock-2"]').waitFor();
    await page.locator("#page-info", { hasText: "tunnels 3–4 of 4 (on 4 keys), page 2 of 2" }).waitFor();

    await page.locator('#filter input[name="key"]').fill("camera");
    await page.locator("#filter button").click();
    await page.waitForURL(/\?key=camera$/);
    await page.locator('#state[data-state="live"]').waitFor();
    expect(await page.locator("#reverse tbody td.key").allTextContents()).toEqual(["camera-1", "camera-2"]);
    expect(await page.locator("#page-info").textContent()).toBe("keys containing “camera”: tunnels 1–2 of 2 (on 2 keys), page 1 of 1");
    expect(await page.locator('#filter input[name="key"]').inputValue()).toBe("camera");
    expect(problems).toEqual([]);
  });
});

/// <reference lib="dom" />
import assert from "node:assert/strict";
import { copyFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { request, singleHost, startEcho, startGateway } from "../helpers/gateway.js";
import { HANG_MS, HANG_TEST } from "../helpers/wait.js";

const OUTPUT = path.join(tmpdir(), "portico-test-output");

async function launch(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  t.after(() => browser.close());
  return browser;
}

test("the dashboard loads without console errors, shows the routes, moves with traffic and explains a URL", HANG_TEST, async (t) => {
  const echo = await startEcho(t);
  const { gw, url } = await startGateway(
    t,
    singleHost(
      {
        "/": { return: "200 'hello'" },
        "/api/": { proxyPass: "http://backend/" },
        "= /health": { content: () => ({ ok: true }) },
        "~* \\.(png|jpg)$": { return: 404 },
      },
      { admin: { listen: "127.0.0.1:0" }, upstreams: { backend: { servers: [`127.0.0.1:${echo.port}`] } } },
    ),
  );
  const admin = gw.adminAddress();
  assert.ok(admin);
  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  // A busy machine is slow, not broken: only a hang fails.
  page.setDefaultTimeout(HANG_MS);
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));

  await page.goto(admin.url, { waitUntil: "load" });
  // Keyboard: the first Tab reaches the skip link, and focus is visible.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  assert.notEqual(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle), "none");

  // The routes of the config, by virtual host.
  await page.locator("#routes caption", { hasText: "localhost" }).waitFor();
  for (const key of ["/", "/api/", "= /health", "~* \\.(png|jpg)$"]) {
    assert.equal(await page.locator("#routes td code", { hasText: key }).first().isVisible(), true, key);
  }
  await page.locator("#upstreams td", { hasText: "backend" }).waitFor();
  assert.equal(await page.locator("#upstreams .healthy").count(), 1);

  // Counters move when traffic flows.
  await page.waitForFunction(() => document.getElementById("total")?.textContent === "0");
  for (let i = 0; i < 12; i++) await request(`${url}/api/anything`);
  await request(`${url}/missing.png`);
  await page.waitForFunction(() => document.getElementById("total")?.textContent === "13", undefined, { timeout: HANG_MS });
  await page.waitForFunction(() => document.getElementById("p50")?.textContent !== "–");
  assert.match((await page.locator("#mix").textContent()) ?? "", /2xx\s*12/);
  assert.match((await page.locator("#mix").textContent()) ?? "", /4xx\s*1/);

  // The route box: labelled fields, answered from /api/routes/explain.
  await page.getByLabel("URL path").fill("/api/users?id=7");
  await page.getByLabel("Method").selectOption("POST");
  await page.getByRole("button", { name: "Explain" }).click();
  const result = page.locator("#explain-result");
  await result.locator("code", { hasText: "/api/" }).first().waitFor();
  assert.match((await result.textContent()) ?? "", /http:\/\/backend\/users\?id=7/);

  await mkdir(OUTPUT, { recursive: true });
  const shot = path.join(OUTPUT, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.PORTICO_UPDATE_SCREENSHOTS === "1") await copyFile(shot, new URL("../../docs/img/dashboard.png", import.meta.url));

  // A phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
  await page.screenshot({ path: path.join(OUTPUT, "dashboard-phone.png"), fullPage: true });

  assert.deepEqual(problems, []);
});

test("with a token, the dashboard asks for it and then shows the data", HANG_TEST, async (t) => {
  const token = "dashboard-token-0123456789";
  const { gw } = await startGateway(t, singleHost({ "/only": { return: 204 } }, { admin: { listen: "127.0.0.1:0", token } }));
  const admin = gw.adminAddress();
  assert.ok(admin);
  const browser = await launch(t);
  const page = await browser.newPage();
  // A busy machine is slow, not broken: only a hang fails.
  page.setDefaultTimeout(HANG_MS);
  await page.goto(admin.url);
  await page.getByLabel("Token").waitFor();
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
  await page.locator("#routes td code", { hasText: "/only" }).waitFor();
  assert.equal(await page.locator("#token-form").isHidden(), true);
});

/**
 * The whole browser flow in a real browser: headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core) logs in at oidc-provider through Portico, the upstream sees the
 * claims header, then logs out (RP-initiated). A screenshot lands in $TMPDIR/test-output/.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { HANG_MS, HANG_TEST } from "../../helpers/wait.js";
import { setup } from "./setup.js";

test("Chromium: login at the provider → upstream sees the claims header → logout", HANG_TEST, async (t) => {
  const s = await setup(t, { setClaimHeaders: { "X-User-Email": "email" }, postLogoutRedirectUri: "/public/bye" });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  // A busy machine is slow, not broken: only a hang fails.
  page.setDefaultTimeout(HANG_MS);
  // No internet here: the provider's pages ask for web fonts; only loopback is served.
  await page.route("**/*", (route) => (new URL(route.request().url()).hostname === "127.0.0.1" ? route.continue() : route.abort()));

  await page.goto(`${s.gw.url}/app?from=chromium`);
  assert.equal(new URL(page.url()).origin, s.op.issuer, "redirected to the provider");
  await page.fill('input[name="login"]', "carol");
  await page.fill('input[name="password"]', "anything");
  await Promise.all([page.waitForURL(/\/interaction\//), page.click("button[type=submit]")]);
  await Promise.all([page.waitForURL(`${s.gw.url}/app?from=chromium`), page.click("button[type=submit]")]);

  const body = JSON.parse((await page.textContent("body")) ?? "{}") as { url: string; headers: Record<string, string> };
  assert.equal(body.url, "/app?from=chromium");
  assert.equal(body.headers["x-user-email"], "carol@example.test");
  assert.equal(body.headers["x-consumer-username"], "carol");
  const cookies = await page.context().cookies(s.gw.url);
  const session = cookies.find((c) => c.name === "portico_session");
  assert.ok(session?.httpOnly, "an HttpOnly session cookie");
  assert.equal(session?.sameSite, "Lax");

  const outDir = path.join(tmpdir(), "test-output");
  await mkdir(outDir, { recursive: true });
  await page.screenshot({ path: path.join(outDir, "openid-connect-chromium.png") });

  await page.goto(`${s.gw.url}/logout`);
  assert.equal(new URL(page.url()).origin, s.op.issuer, "at the provider's end_session page");
  await Promise.all([page.waitForURL(`${s.gw.url}/public/bye`), page.click('button[name="logout"]')]);
  assert.equal(
    (await page.context().cookies(s.gw.url)).find((c) => c.name === "portico_session"),
    undefined,
  );
  await page.goto(`${s.gw.url}/app`);
  assert.equal(await page.locator('input[name="login"]').count(), 1, "logged out at the provider too: its login form again");
});

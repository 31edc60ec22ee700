/**
 * openidConnect as a relying party, against a real oidc-provider, driven by a cookie-jar HTTP
 * client that follows redirects and posts the provider's login, consent and logout forms.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { closedPort, errorBody, request, singleHost, startEcho, startGateway } from "../../helpers/gateway.js";
import { captureLogs } from "../../helpers/logs.js";
import { startRedis } from "../../helpers/redis.js";
import { Browser } from "./browser-client.js";
import { SESSION_SECRET, setup } from "./setup.js";

const API = { accept: "application/json" };

test("login: redirect to the provider with PKCE, state and nonce; back to the original URL with its query; claims upstream", async (t) => {
  const s = await setup(t, { setClaimHeaders: { "X-User-Email": "email", "X-User-Name": "name" }, setAccessTokenHeader: true, setIdTokenHeader: "X-Id" });
  const browser = new Browser();
  const first = await browser.fetchOnce(`${s.gw.url}/app/page?x=1&y=a%20b`);
  assert.equal(first.status, 302);
  const authorize = new URL(String(first.headers.location));
  assert.equal(authorize.origin, s.op.issuer);
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.equal(authorize.searchParams.get("response_type"), "code");
  assert.equal(authorize.searchParams.get("redirect_uri"), `${s.gw.url}/callback`);
  for (const param of ["state", "nonce", "code_challenge"]) assert.ok((authorize.searchParams.get(param) ?? "").length >= 32, param);
  assert.equal(first.headers["cache-control"], "no-store");

  const page = await browser.login(`${s.gw.url}/app/page?x=1&y=a%20b`);
  assert.equal(page.status, 200, page.text);
  assert.equal(page.url, `${s.gw.url}/app/page?x=1&y=a%20b`);
  const seen = s.last();
  assert.equal(seen.url, "/app/page?x=1&y=a%20b");
  assert.equal(seen.headers["x-user-email"], "alice@example.test");
  assert.equal(seen.headers["x-user-name"], "alice");
  assert.equal(seen.headers["x-consumer-username"], "alice");
  assert.ok(String(seen.headers["x-access-token"]).length > 20);
  assert.equal(String(seen.headers["x-id"]).split(".").length, 3, "the ID token");
  assert.ok(!String(seen.headers.cookie ?? "").includes("portico_session"), "the session cookie stays at the gateway");
  const cookie = browser.cookies(s.gw.url).get("portico_session") ?? "";
  assert.ok(!cookie.includes(String(seen.headers["x-access-token"])), "tokens are encrypted in the cookie");
  const setCookie = page.hops.find((hop) => hop.url.includes("/callback"))?.setCookie ?? [];
  assert.match(setCookie.find((c) => c.startsWith("portico_session=")) ?? "", /; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/);
  assert.ok(
    setCookie.some((c) => /^portico_session_auth=; .*Max-Age=0/.test(c)),
    "the login state cookie is deleted",
  );

  // Logged in: no trip to the provider; forged identity headers do not pass.
  const hitsBefore = [...s.op.hits.values()].reduce((a, b) => a + b, 0);
  const again = await browser.go(`${s.gw.url}/other`, {
    headers: { "x-user-email": "mallory@evil.test", "x-consumer-username": "admin", "x-consumer-groups": "admins" },
  });
  assert.equal(again.status, 200);
  assert.equal(again.hops.length, 1);
  assert.equal(s.last().headers["x-user-email"], "alice@example.test");
  assert.equal(s.last().headers["x-consumer-username"], "alice");
  assert.equal(s.last().headers["x-consumer-groups"], undefined);
  assert.equal(
    [...s.op.hits.values()].reduce((a, b) => a + b, 0),
    hitsBefore,
  );
});

test("unauthenticated: API calls and XHR get 401, browsers a redirect; unauthAction deny/redirect; public locations untouched", async (t) => {
  const s = await setup(t);
  const api = await request(`${s.gw.url}/api`, { headers: API });
  assert.equal(api.status, 401);
  assert.equal(errorBody(api).message, "Unauthorized");
  assert.equal(api.headers["www-authenticate"], 'Bearer realm="portico"');
  assert.equal((await request(`${s.gw.url}/api`, { headers: { accept: "text/html", "x-requested-with": "XMLHttpRequest" } })).status, 401);
  assert.equal((await request(`${s.gw.url}/api`, { method: "POST", headers: { accept: "text/html" } })).status, 401);
  assert.equal((await request(`${s.gw.url}/page`, { headers: { accept: "text/html" } })).status, 302);
  assert.equal((await request(`${s.gw.url}/public/x`, { headers: API })).status, 200);

  const deny = await setup(t, { unauthAction: "deny" });
  assert.equal((await request(`${deny.gw.url}/page`, { headers: { accept: "text/html" } })).status, 401);
  const redirect = await setup(t, { unauthAction: "redirect" });
  assert.equal((await request(`${redirect.gw.url}/api`, { headers: API })).status, 302);
});

test("a tampered session cookie is no session: the browser logs in again, an API call gets 401, the cookie is deleted", async (t) => {
  const { logger, lines } = captureLogs();
  const s = await setup(t, {}, { gateway: { logger } });
  const browser = new Browser();
  assert.equal((await browser.login(`${s.gw.url}/page`)).status, 200);
  const cookie = browser.cookies(s.gw.url).get("portico_session") as string;
  const at = Math.floor(cookie.length / 2);
  const flipped = `${cookie.slice(0, at)}${cookie[at] === "A" ? "B" : "A"}${cookie.slice(at + 1)}`;
  for (const value of [flipped, cookie.slice(0, -4), `${cookie}x`, "garbage", ""]) {
    const api = await request(`${s.gw.url}/api`, { headers: { ...API, cookie: `portico_session=${value}` } });
    assert.equal(api.status, 401, value.slice(0, 20));
    const page = await request(`${s.gw.url}/page`, { headers: { accept: "text/html", cookie: `portico_session=${value}` } });
    assert.equal(page.status, 302);
    assert.ok(String(page.headers.location).startsWith(s.op.issuer));
    assert.ok((page.headers["set-cookie"] ?? []).some((c) => /^portico_session=; .*Max-Age=0/.test(c)));
  }
  assert.ok(lines.some((line) => line.code === "PTC_ERR_AUTH_OIDC_UNAUTHENTICATED" && /tampered/.test(String(line.reason))));

  // A session sealed with another secret does not open either.
  const other = await setup(t, { sessionSecret: `${SESSION_SECRET}-other` });
  assert.equal((await request(`${other.gw.url}/api`, { headers: { ...API, cookie: `portico_session=${cookie}` } })).status, 401);
  // The original still works.
  assert.equal((await request(`${s.gw.url}/api`, { headers: { ...API, cookie: `portico_session=${cookie}` } })).status, 200);
});

test("callback: without the login-state cookie, with a wrong state, or with an error from the provider: 401", async (t) => {
  const s = await setup(t);
  assert.equal((await request(`${s.gw.url}/callback?code=abc&state=def`)).status, 401);
  const browser = new Browser();
  const start = await browser.fetchOnce(`${s.gw.url}/page`);
  assert.equal(start.status, 302);
  assert.equal((await browser.fetchOnce(`${s.gw.url}/callback?code=abc&state=not-the-state`)).status, 401);
  assert.equal((await browser.fetchOnce(`${s.gw.url}/callback?error=access_denied&state=x`)).status, 401);
  // A login-state cookie made for another purpose (the session's) does not pass as one.
  const state = new URL(String(start.headers.location)).searchParams.get("state") as string;
  browser.setCookie(s.gw.url, "portico_session_auth", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..x.y.z");
  assert.equal((await browser.fetchOnce(`${s.gw.url}/callback?code=abc&state=${state}`)).status, 401);
  assert.equal(s.echo.seen.length, 0);
});

test("refresh: an access token near its expiry is refreshed with the refresh token; the new cookie is set on the proxied answer", async (t) => {
  const s = await setup(t, { setAccessTokenHeader: true, refreshBeforeExpiry: "1h" }, { provider: { accessTokenTtl: 600 } });
  const browser = new Browser();
  assert.equal((await browser.login(`${s.gw.url}/page`)).status, 200);
  const firstToken = s.last().headers["x-access-token"];
  const tokenCalls = s.op.hits.get("/token") ?? 0;
  const res = await browser.fetchOnce(`${s.gw.url}/page`, { headers: API });
  assert.equal(res.status, 200);
  assert.equal(s.op.hits.get("/token"), tokenCalls + 1, "one refresh grant");
  const secondToken = s.last().headers["x-access-token"];
  assert.notEqual(secondToken, firstToken);
  assert.ok(
    (res.headers["set-cookie"] ?? []).some((c) => c.startsWith("portico_session=ey")),
    "the refreshed session goes back to the browser",
  );
  // The upstream's own cookies are kept beside ours.
  const own = await browser.fetchOnce(`${s.gw.url}/headers?set-cookie=upstream%3D1`, { headers: API });
  assert.ok((own.headers["set-cookie"] ?? []).includes("upstream=1"));

  // The provider away: the session lives on while its access token is valid, and ends after.
  // Expiry is decided on Date.now() (the provider, the gateway, the test's browser): the test holds
  // that clock while the token must be valid and moves it past the expiry, instead of racing 2 s.
  t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
  const dead = await setup(t, { refreshBeforeExpiry: "1h" }, { provider: { accessTokenTtl: 2 } });
  const b2 = new Browser();
  assert.equal((await b2.login(`${dead.gw.url}/page`)).status, 200);
  await dead.op.close();
  assert.equal((await b2.fetchOnce(`${dead.gw.url}/page`, { headers: API })).status, 200);
  t.mock.timers.tick(2100);
  assert.equal((await b2.fetchOnce(`${dead.gw.url}/page`, { headers: API })).status, 401);
});

test("logout, RP-initiated: the session ends here and at the provider, then back to postLogoutRedirectUri", async (t) => {
  const s = await setup(t, { postLogoutRedirectUri: "/public/bye" });
  const browser = new Browser();
  assert.equal((await browser.login(`${s.gw.url}/page`)).status, 200);
  const out = await browser.go(`${s.gw.url}/logout`);
  const endSession = new URL(String(out.hops[0]?.location));
  assert.equal(`${endSession.origin}${endSession.pathname}`, `${s.op.issuer}/session/end`);
  assert.ok(endSession.searchParams.get("id_token_hint"));
  assert.equal(endSession.searchParams.get("post_logout_redirect_uri"), `${s.gw.url}/public/bye`);
  assert.ok((out.hops[0]?.setCookie ?? []).some((c) => /^portico_session=; .*Max-Age=0/.test(c)));
  const done = await browser.submit(out, { logout: "yes" });
  assert.equal(done.url, `${s.gw.url}/public/bye`);
  assert.equal(done.status, 200);
  assert.equal(browser.cookies(s.gw.url).get("portico_session"), undefined);
  // Logged out at the provider too: the next visit shows its login form again.
  const next = await browser.go(`${s.gw.url}/page`);
  assert.match(next.text, /name="login"/);
});

test("logout, local only: the cookie goes, the browser lands on postLogoutRedirectUri (or a plain page)", async (t) => {
  const s = await setup(t, { rpInitiatedLogout: false, postLogoutRedirectUri: "/public/bye", logoutPath: "/signout" });
  const browser = new Browser();
  assert.equal((await browser.login(`${s.gw.url}/page`)).status, 200);
  const out = await browser.fetchOnce(`${s.gw.url}/signout`);
  assert.equal(out.status, 302);
  assert.equal(out.headers.location, `${s.gw.url}/public/bye`);
  assert.equal((await browser.fetchOnce(`${s.gw.url}/api`, { headers: API })).status, 401);

  const plain = await setup(t, { rpInitiatedLogout: false });
  const res = await request(`${plain.gw.url}/logout`);
  assert.equal(res.status, 200);
  assert.equal(res.text, "Logged out\n");
});

test("a large session is chunked into cookies NAME.0, NAME.1, … of at most 3800 bytes, and read back whole", async (t) => {
  const groups = Array.from({ length: 300 }, (_, i) => `group-with-a-long-name-${i}`);
  const s = await setup(t, { setClaimHeaders: { "X-Groups": "groups" } }, { provider: { claims: () => ({ groups }) } });
  const browser = new Browser();
  const page = await browser.login(`${s.gw.url}/page`);
  assert.equal(page.status, 200, page.text);
  const jar = browser.cookies(s.gw.url);
  assert.equal(jar.get("portico_session"), undefined);
  assert.ok(jar.has("portico_session.0") && jar.has("portico_session.1") && jar.has("portico_session.2"), [...jar.keys()].join());
  for (const [name, value] of jar) if (name.startsWith("portico_session.")) assert.ok(value.length <= 3800, name);
  assert.equal(s.last().headers["x-groups"], groups.join(", "));
  assert.ok(!String(s.last().headers.cookie ?? "").includes("portico_session"));
  assert.equal((await browser.fetchOnce(`${s.gw.url}/api`, { headers: API })).status, 200, "the chunks are joined again");
});

test("sessionStore redis: the cookie holds only a sealed id; logout deletes the session in Redis", async (t) => {
  const redis = await startRedis(t);
  const s = await setup(t, { sessionStore: "redis", setClaimHeaders: { "X-User-Email": "email" } }, { top: { redis: { url: redis.url } } });
  const browser = new Browser();
  assert.equal((await browser.login(`${s.gw.url}/page`)).status, 200);
  const cookie = browser.cookies(s.gw.url).get("portico_session") as string;
  assert.ok(cookie.length < 300, `short cookie (${cookie.length})`);
  assert.equal(s.last().headers["x-user-email"], "alice@example.test");
  const { Redis } = await import("ioredis");
  const client = new Redis(redis.url);
  t.after(() => client.quit());
  assert.equal((await client.keys("portico:oidc:session:*")).length, 1);
  assert.equal((await browser.fetchOnce(`${s.gw.url}/api`, { headers: API })).status, 200);
  await browser.go(`${s.gw.url}/logout`);
  assert.equal((await client.keys("portico:oidc:session:*")).length, 0);
  // The old cookie, replayed after logout, is no session.
  assert.equal((await request(`${s.gw.url}/api`, { headers: { ...API, cookie: `portico_session=${cookie}` } })).status, 401);
});

test("discovery: kept across a reload with the same issuer; an unreachable issuer does not fail the load, requests get 502", async (t) => {
  const s = await setup(t);
  const discoveries = () => s.op.hits.get("/.well-known/openid-configuration") ?? 0;
  assert.equal(discoveries(), 1);
  await s.gw.gw.reload();
  assert.equal(discoveries(), 1, "no rediscovery on reload");
  assert.equal((await request(`${s.gw.url}/page`, { headers: { accept: "text/html" } })).status, 302);

  const port = await closedPort();
  const echo = await startEcho(t);
  const { logger, lines } = captureLogs();
  const gw = await startGateway(
    t,
    singleHost({
      "/": {
        proxyPass: echo.origin,
        openidConnect: { issuer: `http://127.0.0.1:${port}`, clientId: "portico", clientSecret: "x", redirectUri: "/callback", sessionSecret: SESSION_SECRET },
      },
    }),
    { logger },
  );
  assert.ok(lines.some((line) => line.code === "PTC_ERR_AUTH_OIDC_PROVIDER_UNAVAILABLE"));
  const res = await request(`${gw.url}/page`, { headers: { accept: "text/html" } });
  assert.equal(res.status, 502);
  assert.equal(errorBody(res).message, "Bad Gateway");
});

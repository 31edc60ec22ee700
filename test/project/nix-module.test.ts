/**
 * The NixOS module, as far as it can be checked without nixpkgs: test/fixtures/nix/*.json hold
 * what NixOS builds from nix/module.nix for each case in test/fixtures/nix/cases/ (evaluated with
 * nixpkgs' lib by ../shared/nix-eval; scripts/nix-fixtures.sh writes them). Here, each generated
 * config goes through Portico's real loader, the reference one serves the four reference
 * requests, and the rendered unit passes `systemd-analyze verify`. The package build and the
 * NixOS VM test (flake.nix) need full nixpkgs and cannot run on this machine.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { checkConfig, createGateway } from "../../src/gateway.js";
import { ROOT } from "../helpers/cli.js";
import { startEcho } from "../helpers/gateway.js";

const FIXTURES = path.join(ROOT, "test/fixtures/nix");
const CASES = path.join(FIXTURES, "cases");
const MODULE = path.join(ROOT, "nix/module.nix");

interface Fixture {
  moduleSha256: string;
  caseSha256: string;
  result: {
    etc: Record<string, string>;
    failedAssertions: string[];
    warnings: string[];
    firewallTCPPorts: number[];
    services: Record<string, ServiceAttrs>;
  };
}

interface ServiceAttrs {
  description: string;
  after?: string[];
  wants?: string[];
  wantedBy?: string[];
  environment?: Record<string, string>;
  reloadTriggers?: string[];
  serviceConfig: Record<string, string | number | boolean | string[]>;
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const fixtureNames = readdirSync(CASES)
  .filter((name) => name.endsWith(".nix"))
  .map((name) => name.slice(0, -4));

function load(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), "utf8")) as Fixture;
}

/** The generated config with the store paths of hook files pointed back at the case's sources. */
function generatedConfig(fixture: Fixture): string {
  const text = fixture.result.etc["portico/portico.json"];
  assert.ok(text, "the module generates /etc/portico/portico.json");
  return text.replace(/\/nix\/store\/[0-9a-z]{32}-([^"]+)/g, (_m, name: string) => path.join(CASES, name));
}

/** A unit file as NixOS renders one: a list value is one line per element. */
function renderUnit(service: ServiceAttrs, replace: (value: string) => string): string {
  const line = (key: string, value: unknown): string[] =>
    Array.isArray(value) ? value.flatMap((item) => line(key, item)) : [`${key}=${replace(typeof value === "boolean" ? String(value) : String(value))}`];
  const unit = [
    "[Unit]",
    `Description=${service.description}`,
    ...line("After", service.after ?? []),
    ...line("Wants", service.wants ?? []),
    "",
    "[Service]",
    ...Object.entries(service.environment ?? {}).map(([name, value]) => `Environment="${name}=${value}"`),
    ...Object.entries(service.serviceConfig).flatMap(([key, value]) => line(key, value)),
    "",
    "[Install]",
    ...line("WantedBy", service.wantedBy ?? []),
  ];
  return `${unit.join("\n")}\n`;
}

test("every fixture was generated from the current module and case (else: scripts/nix-fixtures.sh LIB_DIR)", () => {
  assert.ok(fixtureNames.length >= 3);
  const moduleSha = sha256(MODULE);
  for (const name of fixtureNames) {
    assert.ok(existsSync(path.join(FIXTURES, `${name}.json`)), `test/fixtures/nix/${name}.json is missing: run scripts/nix-fixtures.sh LIB_DIR`);
    const fixture = load(name);
    assert.equal(fixture.moduleSha256, moduleSha, `${name}.json is stale: nix/module.nix changed since; run scripts/nix-fixtures.sh LIB_DIR`);
    assert.equal(fixture.caseSha256, sha256(path.join(CASES, `${name}.nix`)), `${name}.json is stale: its case changed; run scripts/nix-fixtures.sh LIB_DIR`);
  }
});

test("every .nix file in the repository parses (nix-instantiate --parse)", () => {
  const files = execFileSync("git", ["ls-files", "*.nix"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
  assert.ok(files.includes("nix/module.nix") && files.includes("flake.nix"), "module and flake are tracked");
  for (const file of files) {
    const result = spawnSync("nix-instantiate", ["--parse", file], { cwd: ROOT, encoding: "utf8" });
    assert.equal(result.status, 0, `${file} does not parse: ${result.stderr}`);
  }
});

test("reference: the generated config loads and serves the four reference requests", async (t) => {
  const fixture = load("reference");
  assert.deepEqual(fixture.result.failedAssertions, []);
  assert.deepEqual(fixture.result.firewallTCPPorts, [], "openFirewall is off by default");
  const upstream = await startEcho(t);
  // The VM test reaches a local httpbin; here the echo upstream stands in for it.
  const config = JSON.parse(generatedConfig(fixture).replaceAll("http://httpbin.example.com/", `${upstream.origin}/`));
  config.listen = "127.0.0.1:0";
  const dir = mkdtempSync(path.join(tmpdir(), "portico-nix-"));
  const file = path.join(dir, "portico.json");
  writeFileSync(file, JSON.stringify(config));
  const gw = await createGateway(file, { logger: pino({ level: "silent" }) });
  t.after(() => gw.close());
  const [address] = await gw.listen();
  assert.ok(address);
  const root = await fetch(`${address.url}/`);
  assert.equal(root.status, 200);
  assert.equal(await root.text(), "Hello World!");
  const version = await fetch(`${address.url}/version`);
  assert.equal(version.headers.get("content-type"), "application/json");
  assert.equal(await version.text(), '{"version":"0.0.1"}\n');
  const proxied = await fetch(`${address.url}/proxy/anything/hello/world`);
  assert.equal(proxied.status, 200);
  assert.equal(((await proxied.json()) as { path: string }).path, "//anything/hello/world");
  const created = await fetch(`${address.url}/proxy/rewrite/anything`, { method: "POST", body: "x" });
  assert.equal(created.status, 201);
});

test("production: secrets stay out of the store, workers and the firewall follow the options", async () => {
  const fixture = load("production");
  const service = fixture.result.services.portico;
  assert.ok(service);
  assert.deepEqual(service.serviceConfig.EnvironmentFile, ["/run/secrets/portico.env"]);
  assert.deepEqual(fixture.result.firewallTCPPorts, [80, 8081]);
  const text = fixture.result.etc["portico/portico.json"] ?? "";
  assert.match(text, /\$\{env:API_TOKEN\}/, "the secret is a reference, resolved from the environment file at start");
  const config = JSON.parse(generatedConfig(fixture));
  assert.equal(config.workers, "auto");
  const { warnings } = await checkConfig(config, { env: { API_TOKEN: "from-the-environment-file" } });
  assert.deepEqual(
    warnings.map((w) => w.message),
    [],
  );
});

test("disabled: enable = false generates nothing", () => {
  const fixture = load("disabled");
  assert.deepEqual(fixture.result.services, {});
  assert.deepEqual(fixture.result.etc, {});
});

test("the unit: reloads on a settings change, hardened, verified by systemd-analyze", (t) => {
  const service = load("reference").result.services.portico;
  assert.ok(service);
  const config = service.serviceConfig;
  assert.equal(config.ExecStart, `${String(config.ExecStart).split(" ")[0]} start -c /etc/portico/portico.json`, "the unit names the stable /etc path");
  assert.match(String(config.ExecReload), /kill -HUP \$MAINPID$/);
  assert.equal(service.reloadTriggers?.length, 1, "a settings change reloads instead of restarting");
  assert.equal(config.DynamicUser, true);
  assert.deepEqual(config.AmbientCapabilities, ["CAP_NET_BIND_SERVICE"]);
  assert.deepEqual(config.CapabilityBoundingSet, ["CAP_NET_BIND_SERVICE"]);
  assert.equal(config.ProtectSystem, "strict");

  const dir = mkdtempSync(path.join(tmpdir(), "portico-unit-"));
  const unit = path.join(dir, "portico.service");
  // The stand-in store paths are never built: point them at real executables for verify.
  const replace = (value: string) =>
    value
      .replace(/\/nix\/store\/[0-9a-z]{32}-portico-stub\/bin\/portico/g, path.join(ROOT, "bin/portico.js"))
      .replace(/\/nix\/store\/[0-9a-z]{32}-coreutils-stub\/bin\//g, "/bin/");
  writeFileSync(unit, renderUnit(service, replace));
  if (!existsSync("/usr/bin/systemd-analyze")) assert.fail("systemd-analyze is missing: apt-get install systemd (.ci/run does)");
  const verify = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
  assert.equal(verify.status, 0, `systemd-analyze verify failed:\n${verify.stderr}`);
  assert.doesNotMatch(verify.stderr, /portico\.service/, `systemd-analyze verify complained:\n${verify.stderr}`);
  const security = spawnSync("systemd-analyze", ["security", "--offline=yes", unit], { encoding: "utf8" });
  const score = /Overall exposure level for portico\.service: ([\d.]+)/.exec(security.stdout);
  assert.ok(score, `no exposure score in:\n${security.stdout}${security.stderr}`);
  t.diagnostic(`systemd-analyze security exposure: ${score[1]}`);
  assert.ok(Number(score[1]) <= 2.5, `exposure ${score[1]} is above 2.5: a hardening option went missing`);
});

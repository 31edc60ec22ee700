/** `portico routes`: which virtual host and location a request lands in, and why. */
import { checkConfig } from "../gateway.js";
import { normalizeHost } from "../router/virtual-hosts.js";
import { printConfigError } from "./output.js";

export async function explainRoute(file: string, method: string, url: string, host: string | undefined, json: boolean): Promise<number> {
  let table: Awaited<ReturnType<typeof checkConfig>>["table"];
  try {
    ({ table } = await checkConfig(file));
  } catch (error) {
    printConfigError(error, file);
    return 1;
  }
  if (host !== undefined && normalizeHost(host) === null) {
    // nginx answers 400 before choosing a virtual host (ngx_http_validate_host).
    const reason = `the Host "${host}" is not a valid host name: 400`;
    if (json)
      process.stdout.write(
        `${JSON.stringify({ virtualHost: null, virtualHostReason: reason, path: null, location: null, reason, steps: [], status: 400 }, null, 2)}\n`,
      );
    else process.stdout.write(`${method} ${url} (Host: ${host})\n  ${"virtual host".padEnd(13)} none: 400 Bad Request\n  ${"why".padEnd(13)} ${reason}\n`);
    return 0;
  }
  const result = table.explain(method, url, host);
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [`${method} ${url}${host ? ` (Host: ${host})` : ""}`];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(13)} ${value}`);
  row("virtual host", `${result.virtualHost}  (${result.virtualHostReason})`);
  row("path", result.path ?? "(invalid)");
  if (result.location) row("location", result.location.key);
  else if (result.redirectTo) row("redirect", `301 to ${result.redirectTo}`);
  else row("location", `none: ${result.status === 400 ? "400 Bad Request" : "404 Not Found"}`);
  row("why", result.reason);
  for (const step of result.steps) lines.push(`                - ${step}`);
  if (result.location) {
    const loc = result.location;
    if (loc.handler === "proxy") row("handler", `proxy to ${result.upstreamUrl}`);
    else if (loc.handler === "return") row("handler", `return ${loc.return}`);
    else row("handler", "content hook");
    row("hooks", loc.hooks.length ? loc.hooks.join("; ") : "none");
    row("plugins", loc.plugins.length ? loc.plugins.join(", ") : "none");
    const phases = Object.entries(loc.phases ?? {}).map(([phase, who]) => `${phase} (${who.join(", ")})`);
    row("phases", loc.fastPath ? "none: straight to the answer, no request context" : phases.join(" → "));
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

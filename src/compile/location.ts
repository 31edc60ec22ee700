/**
 * One location → its LocationPlan: hooks and plugins per phase, the one way it answers (proxyPass,
 * return, or a content hook), its limits and response headers, and the summary `portico routes`
 * shows.
 */
import type { Logger } from "pino";
import { parseSize } from "../config/units.js";
import type { ParsedLocationKey } from "../router/locations.js";
import type { ProxyRoute } from "../upstream/route.js";
import { compileFinishHeaders } from "./finish-headers.js";
import { inherited, type LocationScope } from "./location-scope.js";
import { compilePhaseChains, type HookContext } from "./phase-chains.js";
import type { LocationAnswer, LocationPlan, LocationSummary } from "./plan.js";
import { compileLocationProxy, type ProxyContext } from "./proxy.js";
import type { Report } from "./report.js";
import { compileReturn, parseReturn, returnAnswer } from "./return.js";
import { templateMessage } from "./template-message.js";

export interface LocationContext {
  hooks: HookContext;
  proxies: ProxyContext;
  report: Report;
  logger: Logger;
  vars: Readonly<Record<string, unknown>>;
  /** The observer's binding of a location (CompileOptions.bindLocation), or null. */
  bindLocation: ((summary: LocationSummary) => unknown) | null;
  /** Every location's summary, in config order. */
  summaries: LocationSummary[];
}

/** The plan of one location, and whether it answers "/x" with a 301 to "/x/"; null when it has errors (reported). */
export async function compileLocation(
  scope: LocationScope,
  key: ParsedLocationKey,
  c: LocationContext,
): Promise<{ plan: LocationPlan; autoRedirect: boolean } | null> {
  const { loc, field } = scope;
  const report = c.report;
  const isRegex = key.modifier === "~" || key.modifier === "~*";
  const hooks = await compilePhaseChains(scope, c.hooks);

  // Exactly one way to answer.
  const answers = (["return", "content", "proxyPass"] as const).filter((name) => loc[name] !== undefined);
  if (answers.length > 1) {
    report.error(field, `a location answers in one way: it has ${answers.join(" and ")}; keep one`, "key");
    return null;
  }
  if (answers.length === 0 && !hooks.pluginContent) {
    report.error(field, "this location does not answer: give it return, content or proxyPass", "key");
    return null;
  }

  const defaultType = inherited(scope, "defaultType");
  const bodyLimit = parseSize(inherited(scope, "clientMaxBodySize"));
  const finishHeaders = compileFinishHeaders(loc.addHeader, [...field, "addHeader"], c.vars, report);

  let proxy: ProxyRoute | null = null;
  if (loc.proxyPass !== undefined) {
    // What proxyPass's URI replaces: the whole matched prefix (or exact path); nothing for a regex.
    const prefixLength = isRegex ? 0 : key.pattern.length;
    proxy = await compileLocationProxy(scope, { isRegex, modifier: key.modifier, pattern: key.pattern, prefixLength, bodyLimit, finishHeaders }, c.proxies);
    if (!proxy) return null;
  } else if (loc.proxySetHeader !== undefined || loc.recommendedProxySettings !== undefined) {
    report.warn([...field, loc.proxySetHeader !== undefined ? "proxySetHeader" : "recommendedProxySettings"], "has no effect without proxyPass");
  }

  let answer: LocationAnswer = proxy ? { kind: "proxy", route: proxy } : { kind: "content" };
  let returnNeedsVars = false;
  if (loc.return !== undefined) {
    const parsed = parseReturn(loc.return);
    if (typeof parsed === "string") {
      report.error([...field, "return"], parsed);
      return null;
    }
    try {
      const compiled = compileReturn(parsed.status, parsed.text, defaultType, c.vars);
      returnNeedsVars = compiled.needsVars;
      answer = returnAnswer(compiled.render, compiled.needsVars, finishHeaders);
    } catch (err) {
      report.error([...field, "return"], templateMessage(err, c.vars));
      return null;
    }
  }

  const summary: LocationSummary = {
    virtualHost: scope.vhostName,
    key: scope.locationKey,
    handler: answer.kind,
    ...(loc.proxyPass !== undefined ? { proxyPass: loc.proxyPass } : {}),
    ...(loc.return !== undefined ? { return: String(loc.return) } : {}),
    hooks: hooks.hooks,
    plugins: hooks.plugins,
    phases: hooks.phaseLabels,
    fastPath: hooks.phases === null,
  };
  c.summaries.push(summary);
  const observe = c.bindLocation ? c.bindLocation(summary) : null;

  // NixOS proxyWebsockets: the upgrade goes through rewrite and access (auth), then the tunnel.
  if (loc.proxyWebsockets === true && !proxy) report.warn([...field, "proxyWebsockets"], "has no effect without proxyPass");
  const websocket = loc.proxyWebsockets === true ? proxy : null;

  const plan: LocationPlan = {
    summary,
    location: { key: scope.locationKey, captures: null },
    virtualHost: { name: scope.vhostName },
    serverName: scope.vhost.serverName ?? scope.vhostName,
    bodyLimit,
    defaultType,
    vars: c.vars,
    phases: hooks.phases,
    answer,
    websocket,
    finishHeaders,
    needsVariables: returnNeedsVars || (proxy?.setHeadersNeedVars ?? false),
    observe,
    logger: c.logger,
  };
  // nginx: any non-regex location ending in "/" served by proxy_pass answers "/x" with a 301 to "/x/".
  return { plan, autoRedirect: proxy !== null && !isRegex && key.pattern.endsWith("/") };
}

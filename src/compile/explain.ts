/** `portico routes` and the admin API: which virtual host and location a request lands in, and why, read from the plan. */
import { splitTarget } from "../http/target.js";
import { normalizePath } from "../router/normalize-path.js";
import { normalizeHost } from "../router/virtual-hosts.js";
import { upstreamPath } from "../upstream/proxy-pass.js";
import type { LocationSummary, Plan } from "./plan.js";

export interface RouteExplanation {
  virtualHost: string;
  virtualHostReason: string;
  path: string | null;
  location: LocationSummary | null;
  redirectTo?: string;
  reason: string;
  steps: string[];
  upstreamUrl?: string;
  status?: number;
}

/** The method is shown, not matched: nginx picks a location by path alone. */
export function explainRoute(plan: Plan, _method: string, url: string, hostArg?: string): RouteExplanation {
  const split = splitTarget(url);
  const givenHost = hostArg ?? split?.host;
  const host = normalizeHost(givenHost);
  if (host === null) {
    return {
      virtualHost: "",
      virtualHostReason: `the Host ${JSON.stringify(givenHost)} is not a valid host name: 400`,
      path: null,
      location: null,
      reason: "invalid Host header: 400",
      steps: [],
      status: 400,
    };
  }
  const vhostMatch = plan.hosts.match(host);
  const vhostExplain = plan.hosts.explain(host);
  const base = { virtualHost: vhostMatch.data.name, virtualHostReason: typeof vhostExplain === "string" ? vhostExplain : vhostMatch.reason };
  const path = split ? normalizePath(split.rawPath) : null;
  if (!split || path === null) {
    return {
      ...base,
      path: null,
      location: null,
      reason: "the path does not normalise (it climbs above / or decodes to a NUL or a bad %XX): 400",
      steps: [],
      status: 400,
    };
  }
  const explanation = vhostMatch.data.locations.explain(path);
  const result: RouteExplanation = { ...base, path, location: null, reason: explanation.reason, steps: explanation.steps };
  const match = explanation.match;
  if (match === null) return { ...result, status: 404 };
  if ("redirectTo" in match) return { ...result, redirectTo: match.redirectTo, status: 301 };
  const location = match.location.data;
  result.location = location.summary;
  if (location.answer.kind === "proxy") {
    // The same function the proxy uses, so that what this says is what is sent.
    const { spec, prefixLength } = location.answer.route;
    result.upstreamUrl = `${spec.scheme}://${spec.proxyHost}${upstreamPath(spec, prefixLength, path, split.rawPath, split.raw, split.rawQuery, false)}`;
  }
  return result;
}

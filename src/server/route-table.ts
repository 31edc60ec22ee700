/**
 * What a loaded config is to the gateway: its Plan (compile/), the dispatcher that walks it per
 * request (lifecycle/), and `explain` for `portico routes` and the admin API, which reads the same
 * plan. A reload swaps the whole table in one assignment.
 */
import { explainRoute, type RouteExplanation } from "../compile/explain.js";
import type { Plan } from "../compile/plan.js";
import { createDispatcher, type Dispatcher } from "../lifecycle/dispatch.js";
import type { Observer } from "../observability/index.js";

export type { ListenAddress, LocationSummary, ServerSettings, TlsSettings } from "../compile/plan.js";
export type { RouteExplanation };

export interface RouteTable extends Plan, Dispatcher {
  explain(method: string, url: string, host?: string): RouteExplanation;
}

export function createRouteTable(plan: Plan, observer: Observer | null): RouteTable {
  return { ...plan, ...createDispatcher(plan, observer), explain: (method, url, host) => explainRoute(plan, method, url, host) };
}

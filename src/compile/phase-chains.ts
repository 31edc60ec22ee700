/**
 * A location's hooks per phase: its plugins' (nearest config wins, `false` switches one off;
 * highest priority first), then its own (LOCATION_HOOK_PRIORITY, below every plugin's). A phase
 * without hooks is `null`; a location without any is `null` altogether (no context is built).
 */
import type { FieldPath } from "../config/source.js";
import { type HookFunction, PHASES, type Phase } from "../lifecycle/context.js";
import { HookLoadError, loadHook } from "../lifecycle/hooks.js";
import type { AnyPlugin } from "../lifecycle/plugin.js";
import { type LocationScope, nearest, nearestField } from "./location-scope.js";
import type { CompiledHook, PhaseChains } from "./plan.js";
import type { PluginInstances } from "./plugins.js";
import type { Report } from "./report.js";

export interface HookContext {
  /** By priority, highest first (byPriority). */
  plugins: readonly AnyPlugin[];
  instances: PluginInstances;
  baseDir: string;
  files: Set<string>;
  report: Report;
}

export interface LocationHooks {
  phases: PhaseChains | null;
  /** `phase: label` of the location's own hooks, for `portico routes`. */
  hooks: string[];
  /** Names of the plugins that apply to the location, by priority. */
  plugins: string[];
  /** Who runs in each phase that has hooks, in order, for `portico routes`. */
  phaseLabels: Partial<Record<Phase, string[]>>;
  /** The location has a content hook of its own. */
  ownContent: boolean;
  /** Only plugins have content hooks here: they answer when nothing else does. */
  pluginContent: boolean;
}

export async function compilePhaseChains(scope: LocationScope, c: HookContext): Promise<LocationHooks> {
  const { loc, field } = scope;
  const own: Partial<Record<Phase, CompiledHook>> = {};
  const hooks: string[] = [];
  for (const phase of PHASES) {
    const spec = loc[phase] as string | HookFunction | undefined;
    if (spec === undefined) continue;
    try {
      const { fn, label } = await loadHook(spec, c.baseDir, c.files);
      own[phase] = { label: `location ${JSON.stringify(scope.locationKey)} ${phase} (${label})`, run: fn };
      hooks.push(`${phase}: ${label}`);
    } catch (err) {
      c.report.error([...field, phase], err instanceof HookLoadError ? err.message : String(err));
    }
  }

  const chains: Record<Phase, CompiledHook[]> = { rewrite: [], preaccess: [], access: [], content: [], headerFilter: [], bodyFilter: [], log: [] };
  const plugins: string[] = [];
  for (const plugin of c.plugins) {
    const found = pluginConfig(scope, plugin.name);
    if (found === null) continue;
    const made = await c.instances.instanceFor(plugin, found.conf, found.field);
    plugins.push(plugin.name);
    // A refused config (made === null) is reported and the plan never used; its hooks still count for the checks below.
    const state = made?.instance;
    for (const phase of PHASES) {
      const hook = plugin[phase];
      if (hook && (made === null || (plugin.usesPhase?.(phase, state) ?? true)))
        chains[phase].push({ label: `plugin ${plugin.name}`, run: (ctx) => hook(ctx, state) });
    }
  }
  for (const phase of PHASES) {
    const hook = own[phase];
    if (hook) chains[phase].push(hook);
  }

  const ownContent = own.content !== undefined;
  const pluginContent = chains.content.length > 0 && !ownContent;
  const any = PHASES.some((phase) => chains[phase].length > 0);
  const phaseLabels: Partial<Record<Phase, string[]>> = {};
  for (const phase of PHASES) if (chains[phase].length > 0) phaseLabels[phase] = chains[phase].map((hook) => hook.label);
  return { phases: any ? nullWhenEmpty(chains) : null, hooks, plugins, phaseLabels, ownContent, pluginContent };
}

/** The nearest config of a plugin (location, virtual host, top level) and where it is written; null when absent or `false`. */
function pluginConfig(scope: LocationScope, name: string): { conf: unknown; field: FieldPath } | null {
  const conf = nearest(scope, name);
  if (conf === undefined || conf === false) return null;
  return { conf, field: nearestField(scope, name) };
}

function nullWhenEmpty(chains: Record<Phase, CompiledHook[]>): PhaseChains {
  const out = {} as Record<Phase, CompiledHook[] | null>;
  for (const phase of PHASES) out[phase] = chains[phase].length > 0 ? chains[phase] : null;
  return out;
}

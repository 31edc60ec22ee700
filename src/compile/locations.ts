/**
 * A virtual host's locations: keys parsed and checked for nginx's "duplicate location", each
 * compiled (location.ts), then the matcher that picks one per request.
 */
import type { FieldPath } from "../config/source.js";
import type { ValidatedConfig, ValidatedVirtualHost } from "../config/types.js";
import { createLocationMatcher, type LocationMatcher, parseLocationKey } from "../router/locations.js";
import { compileLocation, type LocationContext } from "./location.js";
import type { LocationPlan } from "./plan.js";

/** The matcher of a virtual host's locations; null when it cannot be built (reported). */
export async function compileLocations(
  config: ValidatedConfig,
  vhostName: string,
  vhost: ValidatedVirtualHost,
  c: LocationContext,
): Promise<LocationMatcher<LocationPlan> | null> {
  const { report } = c;
  const vhostField: FieldPath = ["virtualHosts", vhostName];
  // nginx's "duplicate location": one exact and one prefix ("" or "^~") per path; a repeated regex is never reached.
  const claimed = new Map<string, string>();
  const entries: Array<{ key: string; data: LocationPlan; autoRedirect: boolean }> = [];

  for (const [locationKey, loc] of Object.entries(vhost.locations ?? {})) {
    const field = [...vhostField, "locations", locationKey];
    let key: ReturnType<typeof parseLocationKey>;
    try {
      key = parseLocationKey(locationKey);
    } catch (err) {
      report.error(field, (err as Error).message, "key");
      continue;
    }
    const isRegex = key.modifier === "~" || key.modifier === "~*";
    const claim = isRegex ? `${key.modifier} ${key.pattern}` : `${key.modifier === "=" ? "=" : "prefix"} ${key.pattern}`;
    const earlier = claimed.get(claim);
    if (earlier !== undefined) {
      const line = report.source.locate([...vhostField, "locations", earlier]).line;
      const where = line > 0 ? ` (line ${line})` : "";
      if (isRegex) {
        report.warn(field, `the regex location "${locationKey}" repeats "${earlier}"${where}, which is tried first: this one never matches`, "key");
      } else {
        const what = key.modifier === "=" ? `the exact location "${key.pattern}"` : `the prefix "${key.pattern}"`;
        report.error(field, `duplicate location: "${locationKey}" and "${earlier}"${where} are both ${what}; keep one`, "key");
      }
      continue;
    }
    claimed.set(claim, locationKey);

    const compiled = await compileLocation({ config, vhostName, vhost, locationKey, loc, vhostField, field }, key, c);
    if (compiled) entries.push({ key: locationKey, data: compiled.plan, autoRedirect: compiled.autoRedirect });
  }

  try {
    return createLocationMatcher(entries);
  } catch (err) {
    report.error([...vhostField, "locations"], (err as Error).message, "key");
    return null;
  }
}

/** Where a location sits in the config, and what it inherits from its virtual host and the top level (nearest wins, as nginx). */
import type { FieldPath } from "../config/source.js";
import type { ValidatedConfig, ValidatedInheritable, ValidatedLocation, ValidatedVirtualHost } from "../config/types.js";

export interface LocationScope {
  config: ValidatedConfig;
  vhostName: string;
  vhost: ValidatedVirtualHost;
  locationKey: string;
  loc: ValidatedLocation;
  vhostField: FieldPath;
  field: FieldPath;
}

const INHERITED_DEFAULTS = {
  defaultType: "application/octet-stream",
  clientMaxBodySize: "1m",
  proxyConnectTimeout: "60s",
  proxyReadTimeout: "60s",
  proxySendTimeout: "60s",
} as const;

type Defaulted = keyof typeof INHERITED_DEFAULTS;

/** An inheritable option: the location's, else its virtual host's, else the top level's, else the default. */
export function inherited<K extends Defaulted>(scope: LocationScope, key: K): NonNullable<ValidatedInheritable[K]>;
export function inherited<K extends keyof ValidatedInheritable>(scope: LocationScope, key: K): ValidatedInheritable[K];
export function inherited(scope: LocationScope, key: keyof ValidatedInheritable): unknown {
  return nearest(scope, key) ?? (INHERITED_DEFAULTS as Record<string, unknown>)[key];
}

/** Any key (a plugin's, a proxySsl* option) as the nearest level sets it; undefined when none does. */
export function nearest(scope: LocationScope, key: string): unknown {
  return scope.loc[key] ?? scope.vhost[key] ?? scope.config[key];
}

/** Where the nearest level that sets `key` writes it (the top level when none does). */
export function nearestField(scope: LocationScope, key: string): FieldPath {
  return scope.loc[key] !== undefined ? [...scope.field, key] : scope.vhost[key] !== undefined ? [...scope.vhostField, key] : [key];
}

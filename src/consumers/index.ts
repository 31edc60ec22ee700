/** Consumers: the config schema, the per-load registry, and the helpers every auth plugin uses. */
export * from "./apply.js";
export * from "./registry.js";
export * from "./schema.js";
export * from "./secrets.js";

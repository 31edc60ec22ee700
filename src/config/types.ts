/**
 * The config as validation leaves it (zod's output: defaults applied, `${env:…}` replaced), the
 * input of compile/. Plugin keys are open: each plugin's schema adds one at runtime, and the
 * compiler hands its value to that plugin untouched.
 */
import type { z } from "zod";
import type { inheritableShape, locationShape, serverShape, topShape, UpstreamSchema } from "./schema.js";

/** A plugin's key at any level: its validated config, or `false` (switched off). */
type PluginKeys = { readonly [plugin: string]: unknown };

/** The options nginx lets you set at http, server and location level (the nearest wins). */
export type ValidatedInheritable = z.output<z.ZodObject<typeof inheritableShape>>;

export type ValidatedLocation = z.output<z.ZodObject<typeof locationShape>> & PluginKeys;

export type ValidatedVirtualHost = z.output<z.ZodObject<typeof serverShape>> &
  PluginKeys & {
    locations?: Record<string, ValidatedLocation> | undefined;
  };

export type ValidatedUpstream = z.output<typeof UpstreamSchema>;

export type ValidatedConfig = z.output<z.ZodObject<typeof topShape>> &
  PluginKeys & {
    virtualHosts: Record<string, ValidatedVirtualHost>;
  };

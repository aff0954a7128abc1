/**
 * The zod schema of the raw YAML document (snake_case keys), put together from each
 * section's schema (listeners/, pools/, dns/, runtime/, logging/, vrrp/, services/, admin/; tls/
 * inside listeners and pools). Every object is strict, so unknown keys are reported;
 * durations, sizes and addresses are converted by the field parsers of common/fields.ts,
 * so a successful parse yields normalised values. What a single field cannot know (names
 * that must be unique, routes naming pools) is checked by validate.ts and each feature's
 * checks.ts. Every field carries its description (and, for converted fields, what users
 * write: common/field-meta.ts), from which reference/ generates the configuration
 * reference and the JSON Schema (`npm run docs:reference`).
 */
import { z } from 'zod';
import { listener, limitsOverride, timeoutsOverride } from './listeners/schema.js';
import { pool } from './pools/schema.js';
import { dns } from './dns/schema.js';
import { runtime } from './runtime/schema.js';
import { logging } from './logging/schema.js';
import { services } from './services/schema.js';
import { vrrpSchema } from './vrrp/schema.js';
import { admin } from './admin/schema.js';
import { bgp } from './bgp/schema.js';

/**
 * The whole file. Parsing yields listeners with their own overrides (timeouts and limits
 * not yet merged with the globals) and pools as a plain object; load.ts turns that into
 * a Config.
 */
export const configSchema = z.strictObject({
  // Both required (and listeners non-empty) unless the file has a `dns` section: checked by validate.ts.
  listeners: z.array(listener).default([]).meta({
    default: undefined,
    defaultText: 'required (without a `dns` section)',
    description: 'where clients connect: each listener binds an address and port and routes what arrives to pools',
  }),
  pools: z.record(z.string(), pool).default({}).meta({
    default: undefined,
    defaultText: 'required (without a `dns` section)',
    description: 'named groups of servers, each with its balancing algorithm, health checks and limits; the name is used by routes, DNS names and services',
  }),
  timeouts: timeoutsOverride(true).prefault({}).describe('timeouts of every listener; a listener may override any of them'),
  limits: limitsOverride(true).prefault({}).describe('limits of every listener; a listener may override any of them'),
  dns: dns.optional(),
  runtime: runtime.prefault({}),
  logging: logging.prefault({}),
  vrrp: vrrpSchema.optional(),
  services: services.optional(),
  admin: admin.optional(),
  bgp: bgp.optional().describe('BGP: announce addresses Fulcrum serves to routers (anycast, ECMP over several balancers), each while its condition holds'),
});

/** What a successful parse of configSchema returns. */
export type ParsedConfig = z.output<typeof configSchema>;

/**
 * The zod schema of the raw YAML document (snake_case keys). Every object is strict, so
 * unknown keys are reported; defaults come from defaults.ts; durations, sizes and
 * addresses are converted here, so a successful parse yields normalised values. What a
 * single field cannot know (names that must be unique, routes naming pools) is checked
 * by validate.ts.
 */
import { z } from 'zod';
import { parseBind, parseCidr, parseHostPattern, parseServerAddress } from './address.js';
import {
  DEFAULT_BALANCE,
  DEFAULT_FORWARDED,
  DEFAULT_KEEPALIVE,
  DEFAULT_NO_ROUTE,
  DEFAULT_WEIGHT,
} from './defaults.js';
import type { Limits, Timeouts } from './types.js';
import { parseDuration, parseSize } from './units.js';

/** Message of a missing required key; load.ts replaces it with one naming the key. */
export const MISSING = 'missing required key';

/** Describes a value for messages: `the string "x"`, `5`, `true`, `a list`, `an empty value`, ... */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return v.constructor === Object ? 'a mapping' : `a ${v.constructor.name}`;
  return typeof v;
}

/** An Error about one element of a list value, so the issue points at that element. */
class PathedError extends Error {
  constructor(
    readonly path: number[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * A field whose raw value is turned into its normalised form by `convert`; an Error it
 * throws becomes a schema issue carrying the Error's message. `convert` may report
 * several problems at once by throwing an AggregateError of `PathedError`s.
 */
function converted<T>(convert: (v: unknown) => T) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.addIssue({ code: 'invalid_type', expected: 'string', input: undefined, message: MISSING });
      return z.NEVER;
    }
    try {
      return convert(v);
    } catch (e) {
      const errors = e instanceof AggregateError ? (e.errors as unknown[]) : [e];
      for (const err of errors) {
        const path = err instanceof PathedError ? err.path : [];
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: v, path });
      }
      return z.NEVER;
    }
  });
}

function requireString(what: string, example: string) {
  return (v: unknown): string => {
    if (typeof v !== 'string') throw new Error(`expected ${what} such as ${example}, got ${describeValue(v)}`);
    return v;
  };
}

const durationMs = converted((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a duration such as "2s" or "150ms", got ${describeValue(v)}`);
  }
  const ms = parseDuration(v);
  if (ms === 0) throw new Error('a timeout of 0 would expire at once; give a positive duration such as "1s"');
  return ms;
});

const sizeBytes = converted((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a size such as "16KiB" or 512, got ${describeValue(v)}`);
  }
  return parseSize(v);
});

/** An integer field limited to min..max (inclusive). */
function intRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new Error(`must be an integer ${range}, got ${describeValue(v)}`);
    }
    return v;
  });
}

/** Listener, pool and server names: they appear in logs, metrics and admin URLs. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why a name does not match NAME_PATTERN, or undefined if it does. */
export function nameProblem(name: string): string | undefined {
  if (NAME_PATTERN.test(name)) return undefined;
  return `invalid name ${JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

const name = converted((v) => {
  const s = requireString('a name', '"web"')(v);
  const problem = nameProblem(s);
  if (problem) throw new Error(problem);
  return s;
});

const timeoutsOverride = z
  .strictObject({
    header: durationMs.optional(),
    keepalive: durationMs.optional(),
    connect: durationMs.optional(),
    server: durationMs.optional(),
    client: durationMs.optional(),
  })
  .transform((t) =>
    defined<Timeouts>({
      headerMs: t.header,
      keepAliveMs: t.keepalive,
      connectMs: t.connect,
      serverMs: t.server,
      clientMs: t.client,
    }),
  );

const limitsOverride = z
  .strictObject({
    header_size: sizeBytes.optional(),
    url_size: sizeBytes.optional(),
    header_count: intRange(1, Number.MAX_SAFE_INTEGER).optional(),
  })
  .transform((l) => defined<Limits>({ headerBytes: l.header_size, urlBytes: l.url_size, headerCount: l.header_count }));

/** Drops undefined fields, leaving only the keys the file actually set. */
function defined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `host`: one pattern or a non-empty list of them. */
const hostPatterns = converted((v): string[] => {
  if (typeof v === 'string') return [parseHostPattern(v)];
  if (!Array.isArray(v)) throw new Error(`expected a host name or a list of them, got ${describeValue(v)}`);
  if (v.length === 0) throw new Error('the host list is empty: leave out `host` to match every host');
  const errors: Error[] = [];
  const hosts = v.map((h: unknown, i) => {
    try {
      return parseHostPattern(requireString('a host name', '"www.example.com"')(h));
    } catch (e) {
      errors.push(new PathedError([i], (e as Error).message));
      return '';
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return hosts;
});

const pathPrefix = converted((v): string => {
  const s = requireString('a path prefix', '"/api/"')(v);
  if (!s.startsWith('/')) throw new Error(`path prefix ${JSON.stringify(s)} must start with "/"`);
  if (/[\s?#]/.test(s)) throw new Error(`path prefix ${JSON.stringify(s)} may not contain spaces, "?" or "#"`);
  return s;
});

const route = z
  .strictObject({
    host: hostPatterns.optional(),
    path: pathPrefix.optional(),
    pool: converted(requireString('a pool name', '"web"')),
  })
  .transform((r) => ({ hosts: r.host ?? [], pathPrefix: r.path ?? '', pool: r.pool }));

const forwarded = z
  .strictObject({
    headers: z.enum(['x-forwarded', 'forwarded', 'both', 'none']).default(DEFAULT_FORWARDED.headers),
    trusted: converted((v): string[] => {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list)) throw new Error(`expected a list of CIDRs such as ["10.0.0.0/8"], got ${describeValue(v)}`);
      const errors: Error[] = [];
      const cidrs = list.map((c: unknown, i) => {
        try {
          return parseCidr(requireString('a CIDR', '"10.0.0.0/8"')(c));
        } catch (e) {
          errors.push(new PathedError([i], (e as Error).message));
          return '';
        }
      });
      if (errors.length > 0) throw new AggregateError(errors);
      return cidrs;
    }).default(() => [...DEFAULT_FORWARDED.trusted]),
    via: z.boolean().default(DEFAULT_FORWARDED.via),
  })
  .transform((f) => ({ headers: f.headers, trusted: f.trusted, via: f.via }));

const noRoute = z.strictObject({
  status: intRange(200, 599)
    .refine((s) => s !== 204 && s !== 304, 'a no_route answer carries a body, so it cannot be 204 or 304')
    .default(DEFAULT_NO_ROUTE.status),
  body: z.string().default(DEFAULT_NO_ROUTE.body),
});

const listener = z
  .strictObject({
    name,
    bind: converted((v) => parseBind(requireString('HOST:PORT', '"127.0.0.1:8080" or ":8080"')(v))),
    mode: z.enum(['http']).default('http'),
    routes: z.array(route).min(1, 'a listener needs at least one route, e.g. `- pool: web`'),
    forwarded: forwarded.prefault({}),
    no_route: noRoute.prefault({}),
    timeouts: timeoutsOverride.prefault({}),
    limits: limitsOverride.prefault({}),
  })
  .transform((l) => ({
    name: l.name,
    host: l.bind.host,
    port: l.bind.port,
    mode: l.mode,
    routes: l.routes,
    forwarded: l.forwarded,
    noRoute: l.no_route,
    timeoutOverrides: l.timeouts,
    limitOverrides: l.limits,
  }));

const server = z
  .strictObject({
    name: name.optional(),
    address: converted((v) => parseServerAddress(requireString('HOST:PORT', '"192.0.2.11:80"')(v))),
    weight: intRange(0, 256).default(DEFAULT_WEIGHT),
  })
  .transform((s) => ({ name: s.name, host: s.address.host, port: s.address.port, weight: s.weight }));

const pool = z
  .strictObject({
    balance: z.enum(['round-robin', 'random', 'least-conn']).default(DEFAULT_BALANCE),
    servers: z.array(server).min(1, 'a pool needs at least one server, e.g. `- address: 192.0.2.11:80`'),
    keepalive: z
      .strictObject({
        max_idle: intRange(0, 65535).default(DEFAULT_KEEPALIVE.maxIdle),
        idle_timeout: durationMs.default(DEFAULT_KEEPALIVE.idleTimeoutMs),
      })
      .prefault({})
      .transform((k) => ({ maxIdle: k.max_idle, idleTimeoutMs: k.idle_timeout })),
  });

/**
 * The whole file. Parsing yields listeners with their own overrides (timeouts and limits
 * not yet merged with the globals) and pools as a plain object; load.ts turns that into
 * a Config.
 */
export const configSchema = z.strictObject({
  listeners: z.array(listener).min(1, 'at least one listener is needed, e.g. `- {name: www, bind: ":8080", routes: [{pool: web}]}`'),
  pools: z.record(z.string(), pool),
  timeouts: timeoutsOverride.prefault({}),
  limits: limitsOverride.prefault({}),
});

/** What a successful parse of configSchema returns. */
export type ParsedConfig = z.output<typeof configSchema>;

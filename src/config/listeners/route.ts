/**
 * The zod schema of a route (`listeners[].routes[]`): what it matches (host, path, path
 * regex, methods, headers, query parameters, client networks, priority), where it sends
 * what it matches (a pool, a weighted split over pools, a redirect, or a direct answer),
 * and what it changes on the way (path rewrites, request and response header rules,
 * allow and deny lists). Which keys go with which listener mode is checked by checks.ts.
 */
import { z } from 'zod';
import { oneOrList, text } from '../common/field-meta.js';
import { parseCidr, parseHostPattern } from '../common/address.js';
import { PathedError } from '../common/field-error.js';
import { converted, describeValue, headerName, intRange, name, queryName, requireString, TOKEN } from '../common/fields.js';
import { compressionSchema } from './compression.js';
import { rate } from './rate.js';

/** `host`: one pattern or a non-empty list of them. */
const hostPatterns = converted((v): string[] => {
  if (typeof v === 'string') return [parseHostPattern(v)];
  if (!Array.isArray(v)) throw new Error(`expected a host name or a list of them, got ${describeValue(v)}`);
  if (v.length === 0) throw new Error('the host list is empty: leave out `host` to match every host');
  return eachItem(v, (h) => parseHostPattern(requireString('a host name', '"www.example.com"')(h)));
}, oneOrList('host name, or a list'));

/** Parses every item of a list; the problems of all of them at once, each at its index. */
function eachItem<T>(list: unknown[], parse: (item: unknown) => T): T[] {
  const errors: Error[] = [];
  const out = list.map((item, i) => {
    try {
      return parse(item);
    } catch (e) {
      errors.push(new PathedError([i], (e as Error).message));
      return undefined as T;
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return out;
}

const pathPrefix = converted((v): string => {
  const s = requireString('a path prefix', '"/api/"')(v);
  if (!s.startsWith('/')) throw new Error(`path prefix ${JSON.stringify(s)} must start with "/"`);
  if (/[\s?#]/.test(s)) throw new Error(`path prefix ${JSON.stringify(s)} may not contain spaces, "?" or "#"`);
  return s;
}, text('path prefix', { pattern: '^/' }));

/** A regular expression as written; its source is kept (a Config crosses to the workers). */
const regex = converted((v): string => {
  const s = requireString('a regular expression', '"^/api/v[0-9]+/"')(v);
  try {
    new RegExp(s);
  } catch (e) {
    throw new Error(`not a valid regular expression: ${(e as Error).message}`);
  }
  return s;
}, text('regular expression'));

/** CIDRs or addresses, one or a list, normalised. */
export function cidrList(v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw new Error(`expected a list of CIDRs such as ["10.0.0.0/8"], got ${describeValue(v)}`);
  return eachItem(list, (c) => parseCidr(requireString('a CIDR', '"10.0.0.0/8"')(c)));
}
export const CIDRS = oneOrList('CIDR or address, or a list');
const cidrs = converted(cidrList, CIDRS);

/** The fields of a header or query test: a name and exactly one of the value tests. */
function valueTestFields(what: string, nameField: z.ZodType, withPrefix: boolean) {
  return z.strictObject({
    name: nameField,
    exact: z.string().optional().describe(`the ${what} equals this`),
    ...(withPrefix ? { prefix: z.string().optional().describe(`the ${what} starts with this`) } : {}),
    regex: regex.optional().describe(`the ${what} matches this regular expression`),
    present: z.boolean().optional().describe(`true: the ${what} is there (any value); false: it is absent`),
  });
}

/** One test: `{name, exact|prefix|regex|present}`, exactly one of the four. */
function toTest(t: { name: unknown; exact?: string; prefix?: unknown; regex?: string; present?: boolean }, ctx: z.RefinementCtx, withPrefix: boolean): { name: string } & ValueTest {
  const given = (['exact', 'prefix', 'regex', 'present'] as const).filter((k) => t[k] !== undefined);
  if (given.length !== 1) {
    ctx.addIssue({ code: 'custom', message: `give exactly one of ${withPrefix ? '`exact`, `prefix`, ' : '`exact`, '}\`regex\` or \`present\`` });
    return z.NEVER;
  }
  const k = given[0]!;
  const name = String(t.name);
  if (k === 'present') return { name, kind: t.present ? 'present' : 'absent' };
  return { name, kind: k, value: String(t[k]) };
}

export type ValueTest = { kind: 'present' | 'absent' } | { kind: 'exact' | 'prefix' | 'regex'; value: string };

const headerMatch = valueTestFields('header\'s value (any of its values, for a repeated field)', converted(headerName, text('header name')).describe('the header field\'s name (any case)'), true).transform((t, ctx) => {
  const test = toTest(t, ctx, true);
  return test === z.NEVER ? test : { ...test, name: test.name.toLowerCase() };
});

const queryMatch = valueTestFields('parameter\'s value', converted(queryName, text('parameter name')).describe('the query parameter\'s name (exact case)'), false).transform((t, ctx) => toTest(t, ctx, false));

/** "${client_ip}" and friends in header values. */
export const HEADER_VARIABLES = ['client_ip', 'request_id', 'route', 'host', 'tls_version', 'scheme'] as const;

const headerValue = converted((v): string => {
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a header value, got ${describeValue(v)}`);
  const s = String(v);
  if (/[\r\n\0]/.test(s)) throw new Error('a header value cannot hold CR, LF or NUL');
  for (const m of s.matchAll(/\$\{([^}]*)\}/g)) {
    if (!(HEADER_VARIABLES as readonly string[]).includes(m[1]!)) throw new Error(`unknown variable \${${m[1]}}: expected one of ${HEADER_VARIABLES.map((x) => `\${${x}}`).join(', ')}`);
  }
  return s;
}, text('header value'));

/** A header name as written (its case is kept on HTTP/1.1). */
const fieldName = converted((v) => {
  headerName(v);
  return v as string;
}, text('header name'));

const headerMap = z.record(fieldName, headerValue);

export const headerRules = z
  .strictObject({
    set: headerMap.default({}).describe('fields set to this value (replacing any the message had); values may use ${client_ip}, ${request_id}, ${route}, ${host}, ${tls_version}, ${scheme}'),
    add: headerMap.default({}).describe('fields added (beside any the message had)'),
    remove: z.array(fieldName).default([]).describe('fields removed'),
  })
  .transform((r) => ({
    set: Object.entries(r.set).map(([n, v]) => [n, v] as [string, string]),
    add: Object.entries(r.add).map(([n, v]) => [n, v] as [string, string]),
    remove: r.remove.map((n) => n.toLowerCase()),
  }));

const METHOD = converted((v): string => {
  const s = requireString('a method', '"GET"')(v);
  if (!TOKEN.test(s)) throw new Error(`not an HTTP method: ${JSON.stringify(s)}`);
  return s.toUpperCase();
}, text('method'));

const splitBy = converted((v): SplitBy => {
  if (v === 'random' || v === 'client') return { kind: v };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.cookie === 'string') return { kind: 'cookie', name: o.cookie };
    if (Object.keys(o).length === 1 && typeof o.header === 'string') return { kind: 'header', name: o.header.toLowerCase() };
  }
  throw new Error(`expected random, client, {cookie: NAME} or {header: NAME}, got ${describeValue(v)}`);
}, {
  type: 'random, client, {cookie} or {header}',
  input: {
    anyOf: [
      { enum: ['random', 'client'] },
      { type: 'object', properties: { cookie: { type: 'string', description: 'the same cookie value keeps the same pool' } }, required: ['cookie'], additionalProperties: false },
      { type: 'object', properties: { header: { type: 'string', description: 'the same header value keeps the same pool' } }, required: ['header'], additionalProperties: false },
    ],
  },
});

export type SplitBy = { kind: 'random' | 'client' } | { kind: 'cookie' | 'header'; name: string };

const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

const redirectFields = z
  .strictObject({
    status: z.union(REDIRECT_STATUSES.map((s) => z.literal(s))).default(302).describe('301, 302, 303, 307 or 308'),
    scheme: z.enum(['http', 'https']).optional().meta({ defaultText: 'the request\'s', description: 'the scheme of the new URL' }),
    host: converted((v) => parseHostPattern(requireString('a host', '"new.example.com"')(v)), text('host')).optional().meta({ defaultText: 'the request\'s', description: 'the host of the new URL' }),
    port: intRange(1, 65535).optional().meta({ defaultText: 'the scheme\'s default', description: 'the port of the new URL' }),
    path: pathPrefix.optional().meta({ defaultText: 'the request\'s path', description: 'the new path, replacing the whole path (the query is kept)' }),
    prefix: pathPrefix.optional().meta({ defaultText: 'none', description: 'replaces the route\'s `path` prefix in the path (the rest and the query are kept)' }),
  })
  .transform((r) => ({ status: r.status, scheme: r.scheme ?? null, host: r.host ?? null, port: r.port ?? null, path: r.path ?? null, prefix: r.prefix ?? null }));

const respondFields = z
  .strictObject({
    status: intRange(200, 599).describe('the status answered'),
    body: z.string().default('').describe('the body answered'),
    content_type: z.string().default('text/plain; charset=utf-8').describe('its Content-Type'),
  })
  .transform((r) => ({ status: r.status, body: r.body, contentType: r.content_type }));

const rewriteFields = z
  .strictObject({
    strip_prefix: z.boolean().optional().describe('true: remove the route\'s `path` prefix ("/api/x" reaches the server as "/x")'),
    prefix: pathPrefix.optional().describe('replace the route\'s `path` prefix with this ("/api/x" with prefix "/v2/" reaches the server as "/v2/x")'),
    regex: regex.optional().describe('a regular expression on the path; with `replace`'),
    replace: z.string().optional().describe('what `regex` is replaced with: $1, $2 ... are its groups'),
  })
  .transform((r, ctx): Rewrite => {
    if (r.regex !== undefined || r.replace !== undefined) {
      if (r.regex === undefined || r.replace === undefined || r.strip_prefix !== undefined || r.prefix !== undefined) {
        ctx.addIssue({ code: 'custom', message: '`regex` and `replace` go together, without `strip_prefix` or `prefix`' });
        return z.NEVER;
      }
      return { kind: 'regex', regex: r.regex, replace: r.replace };
    }
    if ((r.strip_prefix === true) === (r.prefix !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give one of `strip_prefix: true`, `prefix: /new/`, or `regex` with `replace`' });
      return z.NEVER;
    }
    return r.prefix !== undefined ? { kind: 'prefix', to: r.prefix } : { kind: 'prefix', to: '/' };
  });

const rateKey = converted((v): RateKey => {
  if (v === 'client' || v === 'route') return { kind: v };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.header === 'string') return { kind: 'header', name: headerName(o.header).toLowerCase() };
  }
  throw new Error(`expected client, route or {header: NAME}, got ${describeValue(v)}`);
}, {
  type: 'client, route or {header}',
  input: {
    anyOf: [
      { enum: ['client', 'route'] },
      { type: 'object', properties: { header: { type: 'string', description: 'one bucket per value of this request header' } }, required: ['header'], additionalProperties: false },
    ],
  },
});

export type RateKey = { kind: 'client' | 'route' } | { kind: 'header'; name: string };

const rateLimitFields = z
  .strictObject({
    rate: rate.describe('requests allowed per key: "10/s", "600/m", "3600/h" (a number is per second)'),
    burst: intRange(1, 1_000_000).optional().meta({ defaultText: 'one second of `rate` (at least 1)', description: 'requests a key may send at once before the rate applies' }),
    key: rateKey.default({ kind: 'client' }).meta({ defaultText: '`client`', description: 'what a bucket counts: each `client` address, the whole `route`, or each value of a request `{header: NAME}` (requests without it share one bucket)' }),
  })
  .transform((r) => ({ perSecond: r.rate, burst: r.burst ?? Math.max(1, Math.ceil(r.rate)), key: r.key }));

export type Rewrite = { kind: 'prefix'; to: string } | { kind: 'regex'; regex: string; replace: string };

/** A route's fields, as written (checks.ts reads them one by one). */
export const routeFields = z.strictObject({
  name: name.optional().meta({ defaultText: '`routes[N]`', description: 'a name for logs, ${route} in header rules, and `fulcrum check`' }),
  host: hostPatterns.optional().describe('the request\'s host, exact or a `*.` wildcard matching any name below it; mode `tcp`: the TLS server name (SNI), never an IP address. Absent: every host'),
  sni: hostPatterns.optional().describe('the TLS server name (SNI) the client sent, exact or a `*.` wildcard; HTTPS listeners only (in mode `tcp`, `host` is the SNI). Absent: any, or none'),
  path: pathPrefix.optional().describe('a path prefix the request must start with; not in modes `tcp` and `udp`'),
  path_regex: regex.optional().describe('a regular expression the path (without the query) must match'),
  methods: z.array(METHOD).min(1).optional().describe('the request methods this route takes, such as [GET, HEAD]'),
  headers: z.array(headerMatch).default([]).describe('header fields the request must have (or not), each `{name, exact|prefix|regex|present}`; all must hold'),
  query: z.array(queryMatch).default([]).describe('query parameters the request must have (or not), each `{name, exact|regex|present}`; all must hold'),
  client: cidrs.optional().describe('client networks (CIDRs) this route takes; the client is the PROXY protocol\'s or trusted forwarding headers\' address when those are in use'),
  priority: intRange(-1000, 1000).default(0).describe('routes are tried from the highest priority down, in file order within one priority'),
  pool: converted(requireString('a pool name', '"web"'), text('pool name')).optional().describe('the pool that serves what the route matches'),
  split: z
    .array(z.strictObject({ pool: converted(requireString('a pool name', '"web"'), text('pool name')).describe('a pool'), weight: intRange(0, 10_000).describe('its share') }))
    .min(1)
    .optional()
    .describe('instead of `pool`: weighted pools, e.g. 90 to `web` and 10 to `canary`'),
  split_by: splitBy.default({ kind: 'random' }).meta({ defaultText: '`random`', description: 'how a split chooses: `random` for each request, or the same pool for the same `client` address, `{cookie: NAME}` or `{header: NAME}` value' }),
  redirect: redirectFields.optional().describe('instead of `pool`: answer with a redirect, nothing reaches a server'),
  respond: respondFields.optional().describe('instead of `pool`: answer with this status and body (for /healthz or maintenance)'),
  rewrite: rewriteFields.optional().describe('change the path before it reaches the server'),
  request_headers: headerRules.optional().describe('header rules for requests on this route (after Fulcrum\'s own forwarding headers)'),
  response_headers: headerRules.optional().describe('header rules for responses on this route (to proxied responses)'),
  basic_auth: z
    .strictObject({
      realm: z.string().default('Fulcrum').describe('the realm browsers show'),
      htpasswd: converted(requireString('a file', '"/etc/fulcrum/htpasswd"'), text('path')).describe('users and their bcrypt hashes, as `htpasswd -B` writes them; relative to the configuration file'),
    })
    .optional()
    .describe('HTTP basic authentication: a request without a known user and the right password gets 401'),
  allow: cidrs.optional().describe('only clients in these networks get this route; others get 403'),
  deny: cidrs.optional().describe('clients in these networks get 403 on this route'),
  compression: compressionSchema.optional().meta({ defaultText: 'the listener\'s', description: 'compression of this route\'s responses, replacing the listener\'s (`{enabled: false}`: none)' }),
  rate_limit: rateLimitFields.optional().describe('a request rate per client (or header value, or for the whole route), counted across every worker: a request over it gets 429 with `Retry-After`'),
});

/** A route as the runtime reads it (RouteConfig in types.ts). */
export const route = routeFields.transform((r, ctx) => {
  const targets = (['pool', 'split', 'redirect', 'respond'] as const).filter((k) => r[k] !== undefined);
  if (targets.length !== 1) {
    ctx.addIssue({ code: 'custom', message: targets.length === 0 ? 'a route needs one of `pool`, `split`, `redirect` or `respond`' : `a route takes one of \`pool\`, \`split\`, \`redirect\` or \`respond\`, not ${targets.map((t) => `\`${t}\``).join(' and ')}` });
    return z.NEVER;
  }
  return {
    name: r.name ?? null,
    /** Host patterns, lower-case, without port; empty: any host. */
    hosts: r.host ?? [],
    /** TLS server name patterns, lower-case; null: any. */
    sni: r.sni ?? null,
    /** Path prefix ("/api/"); "" matches every path. */
    pathPrefix: r.path ?? '',
    pathRegex: r.path_regex ?? null,
    methods: r.methods ?? null,
    headers: r.headers,
    query: r.query,
    clients: r.client ?? null,
    priority: r.priority,
    /** The pool (a route with `split`, `redirect` or `respond` has none). */
    pool: r.pool ?? null,
    split: r.split === undefined ? null : { pools: r.split, by: r.split_by },
    redirect: r.redirect ?? null,
    respond: r.respond ?? null,
    rewrite: r.rewrite ?? null,
    requestHeaders: r.request_headers ?? null,
    responseHeaders: r.response_headers ?? null,
    allow: r.allow ?? null,
    deny: r.deny ?? null,
    basicAuth: r.basic_auth ?? null,
    /** The route's compression; null: none; undefined: the listener's. */
    compression: r.compression,
    rateLimit: r.rate_limit ?? null,
  };
});

/** Does the route match anything but host and path (TCP and UDP routes cannot)? */
export const HTTP_ONLY_KEYS = ['sni', 'path_regex', 'methods', 'headers', 'query', 'client', 'split', 'split_by', 'redirect', 'respond', 'rewrite', 'request_headers', 'response_headers', 'allow', 'deny', 'basic_auth', 'rate_limit', 'compression'] as const;

/** A route by host and path prefix to a pool, nothing else (configurations built in code). */
export function plainRoute(pool: string, hosts: string[] = [], pathPrefix = ''): z.output<typeof route> {
  return { name: null, hosts, sni: null, pathPrefix, pathRegex: null, methods: null, headers: [], query: [], clients: null, priority: 0, pool, split: null, redirect: null, respond: null, rewrite: null, requestHeaders: null, responseHeaders: null, allow: null, deny: null, basicAuth: null, rateLimit: null, compression: undefined };
}

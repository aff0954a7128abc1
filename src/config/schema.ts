/**
 * The zod schema of the raw YAML document (snake_case keys). Every object is strict, so
 * unknown keys are reported; defaults come from defaults.ts; durations, sizes and
 * addresses are converted here, so a successful parse yields normalised values. What a
 * single field cannot know (names that must be unique, routes naming pools) is checked
 * by validate.ts. Every field carries its description (and, for converted fields, what
 * users write: field-meta.ts), from which reference/ generates the configuration
 * reference and the JSON Schema (`npm run docs:reference`).
 */
import { z } from 'zod';
// first, so the schema files this one imports (and that import it back) can use it at load time
import { DURATION, formatSize, integer, oneOrList, seconds as secondsMeta, SIZE, text, type FieldMeta } from './common/field-meta.js';
import { parseBind, parseCidr, parseHostPattern, parseServerAddress, parseServerUrl } from './common/address.js';
import {
  DEFAULT_BALANCE,
  DEFAULT_FORWARDED,
  DEFAULT_HASH,
  DEFAULT_HEALTH,
  DEFAULT_HTTP_CHECK,
  DEFAULT_KEEPALIVE,
  DEFAULT_MODE,
  DEFAULT_NO_ROUTE,
  DEFAULT_OUTLIER,
  DEFAULT_QUEUE,
  DEFAULT_REDIRECT,
  DEFAULT_RETRIES,
  DEFAULT_STICKY,
  DEFAULT_TCP,
  DEFAULT_UDP,
  DEFAULT_WEIGHT,
  DEFAULT_TIMEOUTS,
  DEFAULT_LIMITS,
  DEFAULT_ACCESS_LOG_FORMAT,
  DEFAULT_LOGGING,
  DEFAULT_RUNTIME,
  DEFAULT_DNS_TCP_IDLE_MS,
  DEFAULT_DNS_TCP_MAX_CONNECTIONS,
  DEFAULT_DNS_TCP_MAX_PER_CLIENT,
  DEFAULT_DNS_TCP_MESSAGE_MS,
  DEFAULT_POOL_NAME,
  DEFAULT_RECORD_TTL,
  DEFAULT_SOA,
  defaultFastInterval,
  MIN_DEFAULT_FAST_INTERVAL_MS,
  defaultServerUrl,
} from './defaults.js';
import {
  codeMap,
  DNS_POLICIES,
  DNS_RECORD_TYPES,
  MAX_SERIAL,
  MAX_TTL,
  nameText,
  parseGroups,
  parseListen,
  parseOrigin,
  pathText,
  recordType,
  rnameText,
  SUBSET_MODES,
  WHEN_NONE_USABLE,
  type ParsedDns,
  type ParsedPoolName,
} from './dns/parse.js';
import { describeValue, PathedError } from './common/field-error.js';
import { services } from './services/schema.js';
import { closest, didYouMean } from './common/suggest.js';
import { lookupGroup, lookupUser } from './runtime/accounts.js';
import { ALGORITHMS } from '../balance/algorithms.js';
import type { AccessLogConfig, LogLevel, RuntimeConfig, HashKey, HealthConfig, HttpCheckConfig, Limits, ListenerConfig, ListenerMode, OutlierConfig, Timeouts } from './types.js';
import { vrrpSchema } from './vrrp/schema.js';
import { formatDuration, parseDuration, parseSeconds, parseSize } from './common/units.js';
import { hstsSchema, http2Schema, httpsRedirectSchema, listenerTlsSchema, poolTlsSchema } from './tls/schema.js';
import { defaultHttp2 } from './tls/defaults.js';

/** Message of a missing required key; load.ts replaces it with one naming the key. */
export const MISSING = 'missing required key';

export { describeValue };

/** Marks a custom zod issue that should point at its key rather than its value (see zod-issues.ts). */
export const AT_KEY = 'key';

/**
 * A field whose raw value is turned into its normalised form by `convert`; an Error it
 * throws becomes a schema issue carrying the Error's message. `convert` may report
 * several problems at once by throwing an AggregateError of `PathedError`s.
 */
export function converted<T>(convert: (v: unknown) => T, meta: FieldMeta = {}) {
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
        const params = err instanceof PathedError && err.at === 'key' ? { at: AT_KEY } : undefined;
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: v, path, params });
      }
      return z.NEVER;
    }
  }).meta(meta);
}

export function requireString(what: string, example: string) {
  return (v: unknown): string => {
    if (typeof v !== 'string') throw new Error(`expected ${what} such as ${example}, got ${describeValue(v)}`);
    return v;
  };
}

function anyDuration(v: unknown): number {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a duration such as "2s" or "150ms", got ${describeValue(v)}`);
  }
  return parseDuration(v);
}

/** A positive duration; `zero` says what 0 would mean. */
export function positiveDuration(zero: string) {
  return converted((v) => {
    const ms = anyDuration(v);
    if (ms === 0) throw new Error(`${zero}; give a positive duration such as "1s"`);
    return ms;
  }, DURATION);
}

/** A timeout: a positive duration. */
const durationMs = positiveDuration('a timeout of 0 would expire at once');
const intervalMs = positiveDuration('an interval of 0 would check without pause');

/** A duration where 0 (with or without a unit) means "off". */
const durationOrZeroMs = converted(anyDuration, DURATION);

const sizeBytes = converted((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a size such as "16KiB" or 512, got ${describeValue(v)}`);
  }
  return parseSize(v);
}, SIZE);

/** An integer field limited to min..max (inclusive). */
export function intRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new Error(`must be an integer ${range}, got ${describeValue(v)}`);
    }
    return v;
  }, integer(min, max));
}

/** A number (not necessarily an integer) limited to min..max (inclusive). */
function numberRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new Error(`must be a number from ${min} to ${max}, got ${describeValue(v)}`);
    }
    return v;
  }, { type: `number, ${min}..${max}`, input: { type: 'number', minimum: min, maximum: max } });
}

/** An HTTP token (RFC 9110 section 5.6.2): method names, header names, cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TOKEN_CHARS = "letters, digits and !#$%&'*+-.^_`|~";

function headerName(v: unknown): string {
  const s = requireString('a header name', '"X-User-Id"')(v);
  if (!TOKEN.test(s)) throw new Error(`invalid header name ${JSON.stringify(s)}: use ${TOKEN_CHARS}, without spaces or ":"`);
  return s.toLowerCase();
}

function cookieName(v: unknown): string {
  const s = requireString('a cookie name', '"FULCRUM_SERVER"')(v);
  if (!TOKEN.test(s)) throw new Error(`invalid cookie name ${JSON.stringify(s)}: a cookie name (RFC 6265) is ${TOKEN_CHARS}, without spaces, "=", ";" or ","`);
  return s;
}

function queryName(v: unknown): string {
  const s = requireString('a query parameter name', '"user"')(v);
  if (s === '' || /[\s&=#?]/.test(s)) throw new Error(`invalid query parameter name ${JSON.stringify(s)}: give the name alone, without spaces, "&", "=", "#" or "?"`);
  return s;
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
}, text('name', { pattern: NAME_PATTERN.source }));

/**
 * `timeouts`, globally or as a listener's overrides: `global` says which, for the
 * reference (the defaults are merged in by load.ts).
 */
function timeoutsOverride(global: boolean) {
  const d = (ms: number) => (global ? { default: formatDuration(ms) } : { defaultText: 'global value' });
  return z
    .strictObject({
      header: durationMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.headerMs), description: 'the whole request head must arrive within this (408 after it: slowloris)' }),
      keepalive: durationMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.keepAliveMs), description: 'an idle client connection between requests is closed after this' }),
      connect: durationMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.connectMs), description: 'connecting to a server; after it the next server is tried' }),
      server: durationMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.serverMs), description: 'server silence while a response is due or streaming (504)' }),
      client: durationMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.clientMs), description: 'client silence while its body or our response is in flight' }),
      body: durationOrZeroMs.optional().meta({ ...d(DEFAULT_TIMEOUTS.bodyMs), description: 'a request body gets this, plus 1 s per `limits.body_min_rate` bytes (408 after; 0: off)' }),
    })
    .transform((t) =>
      defined<Timeouts>({
        headerMs: t.header,
        keepAliveMs: t.keepalive,
        connectMs: t.connect,
        serverMs: t.server,
        clientMs: t.client,
        bodyMs: t.body,
      }),
    );
}

/** `limits`, globally or as a listener's overrides (see timeoutsOverride). */
function limitsOverride(global: boolean) {
  const d = (v: number | string) => (global ? { default: v } : { defaultText: 'global value' });
  return z
    .strictObject({
      header_size: sizeBytes.optional().meta({ ...d(formatSize(DEFAULT_LIMITS.headerBytes)), description: 'largest request or response head (431 / 502 over it)' }),
      url_size: sizeBytes.optional().meta({ ...d(formatSize(DEFAULT_LIMITS.urlBytes)), description: 'longest request target (414 over it)' }),
      header_count: intRange(1, Number.MAX_SAFE_INTEGER).optional().meta({ ...d(DEFAULT_LIMITS.headerCount), description: 'most header fields per head (431 / 502 over it)' }),
      body_min_rate: sizeBytes.optional().meta({ ...d(formatSize(DEFAULT_LIMITS.bodyMinRate)), description: 'bytes per second a request body must keep up beyond `timeouts.body` (slow POST)' }),
    })
    .transform((l) => defined<Limits>({ headerBytes: l.header_size, urlBytes: l.url_size, headerCount: l.header_count, bodyMinRate: l.body_min_rate }));
}

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
}, oneOrList('host name, or a list'));

const pathPrefix = converted((v): string => {
  const s = requireString('a path prefix', '"/api/"')(v);
  if (!s.startsWith('/')) throw new Error(`path prefix ${JSON.stringify(s)} must start with "/"`);
  if (/[\s?#]/.test(s)) throw new Error(`path prefix ${JSON.stringify(s)} may not contain spaces, "?" or "#"`);
  return s;
}, text('path prefix', { pattern: '^/' }));

const route = z
  .strictObject({
    host: hostPatterns.optional().describe('the request\'s host, exact or a `*.` wildcard matching any name below it; mode `tcp`: the TLS server name (SNI), never an IP address. Absent: every host'),
    path: pathPrefix.optional().describe('a path prefix the request must start with; not in modes `tcp` and `udp`'),
    pool: converted(requireString('a pool name', '"web"'), text('pool name')).describe('the pool that serves what the route matches'),
  })
  .transform((r) => ({ hosts: r.host ?? [], pathPrefix: r.path ?? '', pool: r.pool }));

/** Trusted sources: CIDRs or bare addresses (one, or a list), normalised by parseCidr. */
function cidrs(v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw new Error(`expected a list of CIDRs such as ["10.0.0.0/8"], got ${describeValue(v)}`);
  const errors: Error[] = [];
  const parsed = list.map((c: unknown, i) => {
    try {
      return parseCidr(requireString('a CIDR', '"10.0.0.0/8"')(c));
    } catch (e) {
      errors.push(new PathedError([i], (e as Error).message));
      return '';
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return parsed;
}

/** A CIDR or address, or a list of them. */
const CIDRS = oneOrList('CIDR or address, or a list');

const forwarded = z
  .strictObject({
    headers: z
      .enum(['x-forwarded', 'forwarded', 'both', 'none'])
      .default(DEFAULT_FORWARDED.headers)
      .describe('`x-forwarded` adds `X-Forwarded-For`, `-Proto`, `-Host`; `forwarded` adds RFC 7239 `Forwarded`; `both`; `none`'),
    trusted: converted(cidrs, CIDRS)
      .default(() => [...DEFAULT_FORWARDED.trusted])
      .describe('CIDRs (or addresses) whose incoming forwarding headers are kept and appended to; from anyone else they are removed'),
    via: z.boolean().default(DEFAULT_FORWARDED.via).describe('add a `Via: 1.1 fulcrum` header to requests and responses'),
  })
  .describe('client-address headers sent to the servers')
  .transform((f) => ({ headers: f.headers, trusted: f.trusted, via: f.via }));

/** Every `mode:` value, in the order messages list them. */
export const LISTENER_MODES = ['http', 'redirect', 'tcp', 'udp'] as const satisfies readonly ListenerMode[];

/**
 * `proxy_protocol`: accept a PROXY header, only from `trusted` sources. Which modes may
 * have it is checked by validate.ts.
 */
const proxyProtocol = z
  .strictObject({
    trusted: converted((v) => {
      const list = cidrs(v);
      if (list.length === 0) {
        throw new Error('the trusted list is empty, so every connection would be refused: list the balancers in front of Fulcrum (CIDRs or addresses), or leave out `proxy_protocol`');
      }
      return list;
    }, CIDRS).describe('the balancers allowed to send PROXY headers (CIDRs or addresses, at least one); connections from anywhere else, or with a malformed header, are closed'),
  })
  .describe('accept a PROXY protocol v1 or v2 header and take the client\'s address from it (absent: off). Not in mode `udp`')
  .transform((p) => ({ trusted: p.trusted }));

/** The statuses redirect mode may answer with, in the order messages list them. */
export const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const satisfies ReadonlyArray<ListenerConfig['redirect']['status']>;

const redirect = z
  .strictObject({
    status: converted((v): ListenerConfig['redirect']['status'] => {
      const status = REDIRECT_STATUSES.find((s) => s === v);
      if (status === undefined) throw new Error(`expected one of 301, 302, 303, 307 or 308, got ${describeValue(v)}`);
      return status;
    }, { type: '`301` | `302` | `303` | `307` | `308`', input: { enum: [...REDIRECT_STATUSES] } })
      .default(DEFAULT_REDIRECT.status)
      .describe('the redirect status; 307 keeps the method and body and is not cached, so the next visit comes back to the balancer'),
  })
  .describe('mode `redirect` only')
  .transform((r) => ({ status: r.status }));

const tcp = z
  .strictObject({
    idle_timeout: durationMs.default(DEFAULT_TCP.idleMs).describe('a connection pair idle this long (no byte either way) is closed'),
    hello_timeout: durationMs
      .default(DEFAULT_TCP.helloTimeoutMs)
      .describe('with routes that name hosts or with `proxy_protocol`: how long to wait for the PROXY header and the TLS ClientHello'),
  })
  .describe('mode `tcp` only')
  .transform((t) => ({ idleMs: t.idle_timeout, helloTimeoutMs: t.hello_timeout }));

const udp = z
  .strictObject({
    session_idle: positiveDuration('a session idle time of 0 would end every session at once')
      .default(DEFAULT_UDP.sessionIdleMs)
      .describe('a client\'s session (its server and upstream socket) ends after this long without a datagram'),
    max_sessions: intRange(1, 1_000_000).default(DEFAULT_UDP.maxSessions).describe('sessions at once'),
    per_packet: z
      .boolean()
      .default(DEFAULT_UDP.perPacket)
      .describe('no sessions: each datagram is balanced on its own (DNS, syslog); replies still come back'),
  })
  .describe('mode `udp` only')
  .transform((u) => ({ sessionIdleMs: u.session_idle, maxSessions: u.max_sessions, perPacket: u.per_packet }));

const noRoute = z.strictObject({
  status: intRange(200, 599)
    .refine((s) => s !== 204 && s !== 304, 'a no_route answer carries a body, so it cannot be 204 or 304')
    .default(DEFAULT_NO_ROUTE.status)
    .describe('the status answered when no route matches (not 204 or 304)'),
  body: z.string().default(DEFAULT_NO_ROUTE.body).describe('the body answered when no route matches'),
}).describe('the answer when no route matches');

export const ACCESS_LOG_FORMATS = ['json', 'common', 'combined'] as const satisfies ReadonlyArray<AccessLogConfig['format']>;

/** `access_log: stdout`, `access_log: /var/log/fulcrum/www.log`, or `{path, format}`. */
const accessLog = z
  .union([
    z.string().min(1, 'expected "stdout" or a file path'),
    z.strictObject({
      path: z.string().min(1).default('stdout').describe('`stdout` or a file path'),
      format: z.enum(ACCESS_LOG_FORMATS).default(DEFAULT_ACCESS_LOG_FORMAT).describe('`json`, `common` or `combined` (Combined Log Format)'),
    }),
  ])
  .describe('one line per request (`http`, `redirect`) or per connection (`tcp`, JSON only): `stdout` or a file path alone (Combined Log Format), or `{path, format}`. Not in mode `udp`')
  .transform((a): AccessLogConfig => (typeof a === 'string' ? { path: a, format: DEFAULT_ACCESS_LOG_FORMAT } : a));

const listener = z
  .strictObject({
    name: name.describe('unique name, used in logs and errors'),
    bind: converted((v) => parseBind(requireString('HOST:PORT', '"127.0.0.1:8080" or ":8080"')(v)), text('HOST:PORT')).describe(
      'address and port: `0.0.0.0:80`, `[::]:80`, or `:80`; port 0 picks a free port',
    ),
    mode: z
      .enum(LISTENER_MODES)
      .default(DEFAULT_MODE)
      .describe(
        "`http`: HTTP/1.1 reverse proxy; `redirect`: answers each request with a redirect to the chosen server's `url`; `tcp`: relays connections (TLS passthrough, routed by SNI); `udp`: relays datagrams",
      ),
    // optional only with https_redirect (checked by validate-tls.ts)
    routes: z
      .array(route)
      .min(1, 'a listener needs at least one route, e.g. `- pool: web`')
      .optional()
      .meta({
        defaultText: 'required (except with `https_redirect`)',
        description: 'first match wins; a route without `host` or `path` is the default route. Mode `udp`: exactly one route, without `host` or `path`',
      }),
    forwarded: forwarded.prefault({}),
    no_route: noRoute.prefault({}),
    timeouts: timeoutsOverride(false).prefault({}).describe('overrides of the global `timeouts` for this listener'),
    limits: limitsOverride(false).prefault({}).describe('overrides of the global `limits` for this listener'),
    max_connections: intRange(0, Number.MAX_SAFE_INTEGER).default(0).describe('client connections at once; more are closed at accept (0: no limit)'),
    // Which of these go with which mode (and the routes each mode allows) is checked by validate.ts.
    proxy_protocol: proxyProtocol.optional(),
    access_log: accessLog.optional(),
    redirect: redirect.prefault({}),
    tcp: tcp.prefault({}),
    udp: udp.prefault({}),
    // HTTPS and HTTP/2 (schema-tls.ts; which listeners may use them: validate-tls.ts)
    tls: listenerTlsSchema().optional(),
    http2: http2Schema().optional(),
    https_redirect: httpsRedirectSchema().optional(),
    hsts: hstsSchema().optional(),
  })
  .transform((l) => ({
    name: l.name,
    host: l.bind.host,
    port: l.bind.port,
    mode: l.mode,
    routes: l.routes ?? [],
    forwarded: l.forwarded,
    noRoute: l.no_route,
    timeoutOverrides: l.timeouts,
    limitOverrides: l.limits,
    maxConnections: l.max_connections,
    proxyProtocol: l.proxy_protocol ?? null,
    accessLog: l.access_log ?? null,
    redirect: l.redirect,
    tcp: l.tcp,
    udp: l.udp,
    tls: l.tls ?? null,
    http2: l.http2 ?? defaultHttp2(),
    httpsRedirect: l.https_redirect ?? null,
    hsts: l.hsts ?? null,
  }));

const server = z
  .strictObject({
    name: name.optional().meta({ defaultText: '`s1`, `s2`, ... by position', description: 'unique in the pool; used in logs, the sticky cookie and DNS `groups`' }),
    address: converted((v) => parseServerAddress(requireString('HOST:PORT', '"192.0.2.11:80"')(v)), text('HOST:PORT')).describe('the server\'s address and port'),
    weight: intRange(0, 256).default(DEFAULT_WEIGHT).describe('share of the traffic; 0 drains the server (no new requests, the ones in progress finish)'),
    backup: z.boolean().default(false).describe('takes traffic only while no primary server is usable'),
    max_conn: intRange(0, 1_000_000).default(0).describe('requests (or connections) at once; a full server is skipped (0: no limit)'),
    check_address: converted((v) => parseServerAddress(requireString('HOST:PORT', '"192.0.2.11:8081"')(v)), text('HOST:PORT'))
      .optional()
      .meta({ defaultText: '`address`', description: 'where health checks go instead of `address` (not with `check_port`)' }),
    check_port: intRange(1, 65535).optional().meta({ defaultText: 'the port of `address`', description: 'the port health checks go to, at the server\'s host' }),
    url: converted((v) => parseServerUrl(requireString('a URL', '"https://s1.example.com"')(v)), text('URL'))
      .optional()
      .meta({ defaultText: '`http://HOST:PORT`', description: 'the server\'s public URL, where mode `redirect` sends clients: `http` or `https`, host, optional port, no path' }),
  })
  .meta({ title: 'Servers' })
  .transform((s) => ({
    name: s.name,
    host: s.address.host,
    port: s.address.port,
    weight: s.weight,
    backup: s.backup,
    maxConn: s.max_conn,
    // check_address and check_port together are refused by validate.ts.
    checkHost: s.check_address?.host ?? s.address.host,
    checkPort: s.check_address?.port ?? s.check_port ?? s.address.port,
    url: s.url ?? defaultServerUrl(s.address.host, s.address.port),
  }));

const HASH_NAMED = ['header', 'cookie', 'query'] as const;
const HASH_EXAMPLE: Record<(typeof HASH_NAMED)[number], string> = { header: 'X-User-Id', cookie: 'session', query: 'user' };
const HASH_EXPECTED = 'expected ip, path, or a mapping such as {header: X-User-Id}, {cookie: session} or {query: user}';

/** `hash`: "ip", "path", or one of {header: NAME}, {cookie: NAME}, {query: NAME}. */
const hashKey = converted((v): HashKey => {
  if (typeof v === 'string') {
    if (v === 'ip' || v === 'path') return { source: v };
    const named = HASH_NAMED.find((k) => k === v);
    if (named) throw new Error(`hashing by ${named} needs the ${named}'s name: write {${named}: ${HASH_EXAMPLE[named]}}`);
    const hint = closest(v, ['ip', 'path', ...HASH_NAMED]);
    throw new Error(`${HASH_EXPECTED}, got ${describeValue(v)}${hint ? `; did you mean \`${hint}\`?` : ''}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${HASH_EXPECTED}, got ${describeValue(v)}`);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) throw new Error(`${HASH_EXPECTED}, got an empty mapping`);
  const unknown = entries.filter(([k]) => !(HASH_NAMED as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new AggregateError(unknown.map(([k]) => new PathedError([k], `unknown key \`${k}\`${didYouMean(k, HASH_NAMED)}`, 'key')));
  }
  if (entries.length > 1) {
    throw new PathedError([entries[1]![0]], `hash takes a single source: \`${entries[0]![0]}\` is already given, so remove one of them`, 'key');
  }
  const [kind, value] = entries[0]! as [(typeof HASH_NAMED)[number], unknown];
  try {
    if (kind === 'header') return { source: 'header', name: headerName(value) };
    if (kind === 'cookie') return { source: 'cookie', name: cookieName(value) };
    return { source: 'query', name: queryName(value) };
  } catch (e) {
    throw new PathedError([kind], (e as Error).message);
  }
}, {
  type: '`ip`, `path`, `{header: NAME}`, `{cookie: NAME}` or `{query: NAME}`',
  input: {
    anyOf: [
      { enum: ['ip', 'path'] },
      ...HASH_NAMED.map((k) => ({ type: 'object', properties: { [k]: { type: 'string', description: `the ${k}'s name` } }, required: [k], additionalProperties: false })),
    ],
  },
});

const sticky = z
  .strictObject({
    cookie: converted(cookieName, text('cookie name')).default(DEFAULT_STICKY.cookie).describe('the cookie naming the server'),
    fallback: z
      .enum(['round-robin', 'random', 'least-conn'])
      .default(DEFAULT_STICKY.fallback)
      .describe('the algorithm for requests without a usable cookie'),
  })
  .describe('with `balance: sticky` only: the first answer sets the cookie; later requests with it go to that server while it is usable')
  .transform((s) => ({ cookie: s.cookie, fallback: s.fallback }));

/** `expect_status`: statuses (200) and inclusive ranges ("200-399"), or one of them alone. */
const statusRanges = converted((v): Array<[number, number]> => {
  const one = (item: unknown): [number, number] => {
    const hint = 'such as 200 or a range such as "200-399"';
    let low: number;
    let high: number;
    if (typeof item === 'number' && Number.isInteger(item)) {
      low = high = item;
    } else if (typeof item === 'string' && /^\s*\d+\s*(-\s*\d+\s*)?$/.test(item)) {
      const [a, b = a] = item.split('-').map((t) => Number(t.trim()));
      low = a!;
      high = b!;
    } else {
      const xx = typeof item === 'string' ? /^([1-5])xx$/i.exec(item.trim()) : null;
      if (xx) throw new Error(`write the class ${JSON.stringify(item)} as the range "${xx[1]}00-${xx[1]}99"`);
      throw new Error(`expected a status ${hint}, got ${describeValue(item)}`);
    }
    for (const n of [low, high]) if (n < 100 || n > 599) throw new Error(`status ${n} is out of range: expected 100 to 599`);
    if (low > high) throw new Error(`the range ${JSON.stringify(item)} goes backwards: write the lower status first, e.g. "${high}-${low}"`);
    return [low, high];
  };
  if (!Array.isArray(v)) {
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a list of statuses such as [200-399] or [200, 301], got ${describeValue(v)}`);
    return [one(v)];
  }
  if (v.length === 0) throw new Error('the status list is empty, so no check could pass: leave out `expect_status` for the default [200-399]');
  const errors: Error[] = [];
  const ranges = v.map((item: unknown, i): [number, number] => {
    try {
      return one(item);
    } catch (e) {
      errors.push(new PathedError([i], (e as Error).message));
      return [0, 0];
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return ranges;
}, {
  type: 'list of statuses (`200`) and ranges (`"200-399"`)',
  input: { anyOf: [{ type: 'integer' }, { type: 'string' }, { type: 'array', items: { type: ['integer', 'string'] }, minItems: 1 }] },
});

const httpCheck = z
  .strictObject({
    method: converted((v) => {
      const s = requireString('a method', '"GET" or "HEAD"')(v);
      if (!TOKEN.test(s)) throw new Error(`invalid method ${JSON.stringify(s)}: a method is a single word such as GET or HEAD (${TOKEN_CHARS})`);
      return s;
    }, text('HTTP method'))
      .default(DEFAULT_HTTP_CHECK.method)
      .describe('the check request\'s method'),
    path: converted((v) => {
      const s = requireString('a path', '"/healthz"')(v);
      if (!s.startsWith('/')) throw new Error(`check path ${JSON.stringify(s)} must start with "/"`);
      if (/[\s\x00-\x1f\x7f#]/.test(s)) throw new Error(`check path ${JSON.stringify(s)} may not contain spaces, control characters or "#"`);
      return s;
    }, text('path', { pattern: '^/' }))
      .default(DEFAULT_HTTP_CHECK.path)
      .describe('the path checked, with any query'),
    host: converted((v) => {
      const s = requireString('a host name', '"www.example.com"')(v);
      if (s.includes('*')) throw new Error(`${JSON.stringify(s)}: the Host header of a check names one host; a wildcard is not allowed`);
      parseHostPattern(s);
      return s;
    }, text('host name'))
      .optional()
      .meta({ defaultText: 'the server\'s address', description: 'the check\'s Host header' }),
    expect_status: statusRanges
      .default(() => DEFAULT_HTTP_CHECK.expectStatus.map(([a, b]): [number, number] => [a, b]))
      .meta({ default: DEFAULT_HTTP_CHECK.expectStatus.map(([a, b]) => `${a}-${b}`), description: 'statuses that pass the check' }),
    body_match: converted((v) => {
      const s = requireString('text', '"ok"')(v);
      if (s === '') throw new Error('an empty body_match matches every body: leave it out instead');
      return s;
    }, text('string'))
      .optional()
      .describe('text the response body must contain to pass'),
  })
  .describe('with `type: http` only: the check request and what passes')
  .transform(
    (h): HttpCheckConfig => ({
      method: h.method,
      path: h.path,
      host: h.host ?? null,
      expectStatus: h.expect_status,
      bodyMatch: h.body_match ?? null,
    }),
  );

const health = z
  .strictObject({
    type: z.enum(['http', 'tcp']).default(DEFAULT_HEALTH.type).describe('`tcp`: a connect; `http`: a request, see `http`'),
    interval: intervalMs.default(DEFAULT_HEALTH.intervalMs).describe('time between checks of a server'),
    fast_interval: intervalMs.optional().meta({
      defaultText: `a quarter of \`interval\`, at least ${formatDuration(MIN_DEFAULT_FAST_INTERVAL_MS)}`,
      description: 'time between checks while a server\'s state is changing (between its first pass or failure and `rise` or `fall`)',
    }),
    jitter: numberRange(0, 1).default(DEFAULT_HEALTH.jitter).describe('each interval is longer by up to this fraction of it, so checks spread out'),
    // default: 1s, or the interval when that is shorter (HAProxy's `timeout check` defaults to `inter`)
    timeout: durationMs.optional().meta({
      defaultText: `\`${formatDuration(DEFAULT_HEALTH.timeoutMs)}\`, or \`interval\` when shorter`,
      description: 'a check not answered by then fails; at most the interval',
    }),
    rise: intRange(1, 100).default(DEFAULT_HEALTH.rise).describe('passes in a row that bring a server up'),
    fall: intRange(1, 100).default(DEFAULT_HEALTH.fall).describe('failures in a row that take a server down'),
    initial: z.enum(['up', 'down']).default(DEFAULT_HEALTH.initial).describe('what to assume of a server before its first results'),
    // Checked against `type` (and timeout against interval) by validate.ts.
    http: httpCheck.prefault({}),
  })
  .meta({ title: 'Health checks', description: 'active health checks, run once per process and shared by every listener using the pool (absent: none)' })
  .transform(
    (h): HealthConfig => ({
      type: h.type,
      intervalMs: h.interval,
      fastIntervalMs: h.fast_interval ?? defaultFastInterval(h.interval),
      jitter: h.jitter,
      timeoutMs: h.timeout ?? Math.min(DEFAULT_HEALTH.timeoutMs, h.interval),
      rise: h.rise,
      fall: h.fall,
      initial: h.initial,
      http: h.http,
    }),
  );

const outlier = z
  .strictObject({
    consecutive_errors: intRange(1, 1000)
      .default(DEFAULT_OUTLIER.consecutiveErrors)
      .describe('connect errors, resets or 5xx answers in a row that eject a server'),
    base_ejection: positiveDuration('an ejection of 0 would end at once')
      .default(DEFAULT_OUTLIER.baseEjectionMs)
      .describe('how long an ejection lasts; the n-th ejection of a server lasts n times as long'),
    max_ejection_percent: intRange(0, 100)
      .default(DEFAULT_OUTLIER.maxEjectionPercent)
      .describe('never eject more than this share of the pool (at least one server may go)'),
  })
  .describe('passive health (outlier detection): servers that fail real traffic are ejected for a while (absent: none)')
  .transform(
    (o): OutlierConfig => ({
      consecutiveErrors: o.consecutive_errors,
      baseEjectionMs: o.base_ejection,
      maxEjectionPercent: o.max_ejection_percent,
    }),
  );

/**
 * One pool; its name and the default server names are added by load.ts. Which keys go
 * with which `balance` (hash, sticky, max_conn for first) is checked by validate.ts.
 */
const pool = z
  .strictObject({
    balance: z
      .enum(ALGORITHMS)
      .default(DEFAULT_BALANCE)
      .describe('how a server is picked; see the README\'s "Balancing algorithms". Behind `tcp` and `udp` listeners not `sticky`'),
    hash: hashKey.default(() => ({ ...DEFAULT_HASH })).meta({
      default: DEFAULT_HASH.source,
      description: 'with `balance: maglev` only: the key hashed (the client\'s IP address, the path, a header, a cookie or a query parameter); requests without it spread at random. Behind `tcp` and `udp` listeners only `ip`',
    }),
    sticky: sticky.prefault({}),
    servers: z.array(server).min(1, 'a pool needs at least one server, e.g. `- address: 192.0.2.11:80`').describe('the pool\'s servers, at least one'),
    health: health.optional(),
    outlier: outlier.optional(),
    slow_start: durationOrZeroMs.default(0).describe('a recovered server\'s weight ramps from 5% to 100% over this time (0: off)'),
    retries: intRange(0, 10).default(DEFAULT_RETRIES).describe('tries on another server after a failed connect (and, for idempotent requests without a body, a connection closed before any response byte)'),
    queue: z
      .strictObject({
        size: intRange(0, 100_000).default(DEFAULT_QUEUE.size).describe('requests that may wait while every usable server is at `max_conn` (0: none, 503 at once)'),
        timeout: durationMs.default(DEFAULT_QUEUE.timeoutMs).describe('how long a request may wait in the queue for a free slot'),
      })
      .prefault({})
      .describe('requests that wait for a free slot while every usable server is at `max_conn`')
      .transform((q) => ({ size: q.size, timeoutMs: q.timeout })),
    keepalive: z
      .strictObject({
        max_idle: intRange(0, 65535).default(DEFAULT_KEEPALIVE.maxIdle).describe('idle upstream connections kept per server'),
        idle_timeout: durationMs
          .default(DEFAULT_KEEPALIVE.idleTimeoutMs)
          .describe('an idle upstream connection is closed after this; keep it shorter than the servers\' own keep-alive timeout'),
      })
      .prefault({})
      .describe('idle connections to the servers kept for reuse')
      .transform((k) => ({ maxIdle: k.max_idle, idleTimeoutMs: k.idle_timeout })),
    // Which listeners may use a pool that sends PROXY headers is checked by validate.ts.
    send_proxy: z
      .enum(['v1', 'v2'])
      .optional()
      .describe('start each connection to a server with a PROXY protocol header carrying the client\'s address (the servers must expect it). Not for pools of `udp` listeners'),
    tls: poolTlsSchema().optional(),
  })
  .transform((p) => ({
    balance: p.balance,
    hash: p.hash,
    sticky: p.sticky,
    servers: p.servers,
    keepalive: p.keepalive,
    health: p.health ?? null,
    outlier: p.outlier ?? null,
    slowStartMs: p.slow_start,
    retries: p.retries,
    queue: p.queue,
    sendProxy: p.send_proxy ?? null,
    tls: p.tls ?? null,
  }));

/** A DNS time (TTL or SOA timer) in whole seconds, 0..max; see parseSeconds. */
function seconds(max = MAX_TTL) {
  return converted((v) => parseSeconds(v, max), secondsMeta(max));
}

const DNS_NAME = text('DNS name (`www`, `@`, or absolute `www.example.com.`)');
const POOL_NAME = text('pool name');
const CODE_MAP: FieldMeta = { type: 'mapping of codes to pool names', input: { type: 'object', additionalProperties: { type: 'string' } } };

const soa = z
  .strictObject({
    mname: converted(nameText, DNS_NAME).optional().meta({ defaultText: '`ns1.<origin>`', description: 'the primary name server' }),
    rname: converted(rnameText, text('DNS name or mailbox')).optional().meta({ defaultText: '`hostmaster@<origin>`', description: 'the responsible person: a name, or a mailbox such as `hostmaster@example.com`' }),
    serial: intRange(0, MAX_SERIAL).default(DEFAULT_SOA.serial).describe('the zone\'s serial number'),
    refresh: seconds().default(DEFAULT_SOA.refresh).describe('how often secondaries check the serial'),
    retry: seconds().default(DEFAULT_SOA.retry).describe('how soon secondaries retry a failed refresh'),
    expire: seconds().default(DEFAULT_SOA.expire).describe('how long secondaries keep answering without a refresh'),
    minimum: seconds().default(DEFAULT_SOA.minimum).describe('the negative-caching TTL (RFC 2308)'),
    ttl: seconds().default(DEFAULT_SOA.ttl).describe('the TTL of the SOA record itself'),
  })
  .describe('the zone\'s SOA record')
  .transform((s) => defined(s) as ParsedDns['zones'][number]['soa']);

/** A static record; its data is checked against its type, and names joined to the origin, by validate-dns.ts and dns.ts. */
const dnsRecord = z.strictObject({
  name: converted(nameText, DNS_NAME).describe('the owner name, relative to the origin; `@` is the origin itself'),
  type: converted(recordType, { type: DNS_RECORD_TYPES.map((t) => `\`${t}\``).join(' | '), input: { type: 'string' } }).describe('the record type (case does not matter)'),
  ttl: seconds().default(DEFAULT_RECORD_TTL).describe('the record\'s TTL'),
  data: converted((v) => v, { type: 'depends on `type`', input: {} }).describe(
    '`A` an IPv4 address; `AAAA` an IPv6 address; `CNAME` and `NS` a name; `TXT` a string or a list of strings of up to 255 bytes each; `MX` `{preference, exchange}`; `SRV` `{priority, weight, port, target}`; `CAA` `{flags (default 0), tag, value}`',
  ),
}).meta({ title: 'DNS records', description: 'static records; without an NS record at the apex, one naming the SOA `mname` is served' });

/** A pool-backed name. Which keys go with which policy, and the pools and servers named, are checked by validate-dns.ts. */
const poolName = z
  .strictObject({
    name: converted(nameText, DNS_NAME).describe('the pool-backed name (`www`, or `"@"` for the apex)'),
    pool: converted(requireString('a pool name', '"web"'), POOL_NAME).describe('the pool whose usable servers answer: IPv4 servers in A answers, IPv6 servers in AAAA'),
    ttl: seconds().default(DEFAULT_POOL_NAME.ttl).describe('the answers\' TTL: short, so clients come back soon after a server fails'),
    policy: z
      .enum(DNS_POLICIES)
      .default(DEFAULT_POOL_NAME.policy)
      .describe('`all` usable servers; a `subset` of them per answer; `weighted`: one server per answer, by weight; `failover`: the first of `groups` with a usable server'),
    subset: z
      .strictObject({
        size: intRange(1, 65535).default(DEFAULT_POOL_NAME.subsetSize).describe('servers per answer'),
        mode: z.enum(SUBSET_MODES).default(DEFAULT_POOL_NAME.subsetMode).describe('pick them in rotation, or at random by weight'),
      })
      .optional()
      .describe('with `policy: subset` only'),
    groups: converted(parseGroups, { type: 'list of lists of server names', input: { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } } })
      .optional()
      .meta({ defaultText: 'required by `failover`', description: 'with `policy: failover` only: ordered groups of the pool\'s server names, e.g. `[[S1], [S2, S3]]`; a server in one group at most' }),
    when_none_usable: z
      .enum(WHEN_NONE_USABLE)
      .default(DEFAULT_POOL_NAME.whenNoneUsable)
      .describe('when no server is usable: answer with every server (as PowerDNS and gdnsd do), or `none` (an empty answer)'),
    steering: z
      .array(
        z.strictObject({
          cidr: converted((v) => parseCidr(requireString('a CIDR', '"198.51.100.0/24"')(v)), text('CIDR')).describe('a client range'),
          pool: converted(requireString('a pool name', '"web-eu"'), POOL_NAME).describe('the pool that answers clients in the range'),
        }),
      )
      .default([])
      .describe('clients in a range (EDNS Client Subnet, else the resolver\'s address) get that pool\'s servers; the most specific range wins. Not with `policy: failover`'),
    steering_file: converted(pathText, text('file path'))
      .optional()
      .describe('more steering entries, one `CIDR POOL` per line (`#` comments), reloaded when the file changes; a relative path is relative to the configuration file'),
    geoip: z
      .strictObject({
        database: converted(pathText, text('file path')).describe('a MaxMind GeoIP2/GeoLite2 Country or City database (`.mmdb`), relative to the configuration file; re-read when it changes'),
        countries: converted(codeMap('country'), CODE_MAP).default({}).describe('country codes to pools, e.g. `{DE: web-eu}`'),
        continents: converted(codeMap('continent'), CODE_MAP).default({}).describe('continent codes (AF, AN, AS, EU, NA, OC, SA) to pools, e.g. `{NA: web-us}`'),
      })
      .optional()
      .describe('steering by the client\'s country (else its continent, else the name\'s own `pool`); `steering` and `steering_file` are consulted first. A missing or unreadable database is logged and the name answers as without `geoip`'),
  })
  .meta({ title: 'DNS pool-backed names', description: 'names answered with the addresses of a pool\'s usable servers' })
  .transform(
    (p): ParsedPoolName => ({
      name: p.name,
      pool: p.pool,
      ttl: p.ttl,
      policy: p.policy,
      subsetSize: p.subset?.size ?? DEFAULT_POOL_NAME.subsetSize,
      subsetMode: p.subset?.mode ?? DEFAULT_POOL_NAME.subsetMode,
      groups: p.groups ?? [],
      whenNoneUsable: p.when_none_usable,
      steering: p.steering.map((e) => ({ cidr: e.cidr, pool: e.pool })),
      steeringFile: p.steering_file ?? null,
      geoip: p.geoip ? { database: p.geoip.database, countries: p.geoip.countries, continents: p.geoip.continents } : null,
    }),
  );

const zone = z.strictObject({
  origin: converted(parseOrigin, text('DNS name')).describe('the zone\'s name, `example.com` or `example.com.`; each zone once'),
  soa: soa.prefault({}),
  transfer: z.boolean().default(false).describe('answer AXFR zone transfers over TCP (otherwise NOTIMP)'),
  records: z.array(dnsRecord).default([]),
  pools: z.array(poolName).default([]),
}).meta({ title: 'DNS zones', description: 'the zones this server is authoritative for' });

/** The `dns:` section: the authoritative DNS server (see dns.ts and validate-dns.ts). */
const dns = z
  .strictObject({
    listen: converted(parseListen, oneOrList('HOST:PORT, or a list')).describe(
      'addresses served over UDP and TCP; a bare address means port 53, port 0 picks a free port; no address may clash with another or with a listener\'s `bind`',
    ),
    tcp_idle_timeout: durationMs
      .default(DEFAULT_DNS_TCP_IDLE_MS)
      .describe('a TCP connection with no query under way is closed this long after its last answer'),
    tcp_message_timeout: durationMs
      .default(DEFAULT_DNS_TCP_MESSAGE_MS)
      .describe('a query over TCP must arrive whole this long after its first byte, or the connection is closed'),
    tcp_max_connections: intRange(1, 1_000_000)
      .default(DEFAULT_DNS_TCP_MAX_CONNECTIONS)
      .describe('TCP connections at once per listen address; at the cap a new connection closes the least recently useful one (RFC 7766 section 6.2.2)'),
    tcp_max_per_client: intRange(1, 1_000_000)
      .default(DEFAULT_DNS_TCP_MAX_PER_CLIENT)
      .describe('TCP connections at once from one client address; over it, that client\'s least recently useful connection is closed'),
    zones: z.array(zone).min(1, 'the DNS server needs at least one zone, e.g. `- {origin: example.com, records: [...]}`'),
  })
  .describe('the authoritative DNS server: it answers a pool-backed name with the addresses of the pool\'s usable servers. Names follow zone-file rules: `www` is relative to the origin, a name ending in `.` is absolute')
  .transform(
    (d): ParsedDns => ({
      listen: d.listen,
      tcpIdleMs: d.tcp_idle_timeout,
      tcpMessageMs: d.tcp_message_timeout,
      tcpMaxConnections: d.tcp_max_connections,
      tcpMaxPerClient: d.tcp_max_per_client,
      zones: d.zones,
    }),
  );

/** `workers: auto` or a count. */
const workers = converted((v): number | 'auto' => {
  if (v === 'auto') return 'auto';
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 256) {
    throw new Error(`expected "auto" (one per CPU core) or a count from 1 to 256, got ${describeValue(v)}`);
  }
  return v;
}, { type: '`auto`, or integer 1..256', input: { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1, maximum: 256 }] } });

const ACCOUNT: FieldMeta = { type: 'name or number', input: { type: ['string', 'integer'] } };

/** The `runtime:` section: worker processes, draining, the control socket. */
const runtime = z
  .strictObject({
    workers: workers.default(DEFAULT_RUNTIME.workers).describe('worker processes owning the listeners: `auto` is one per CPU core; `--workers N` overrides it'),
    drain_timeout: durationMs
      .default(DEFAULT_RUNTIME.drainMs)
      .describe('after a reload, how long the old workers keep long-lived connections (WebSocket, TCP) before cutting them'),
    shutdown_timeout: durationMs.default(DEFAULT_RUNTIME.shutdownMs).describe('on stop, how long in-flight requests may take'),
    control_socket: z
      .union([z.string().min(1, 'expected a path, or false for no control socket'), z.literal(false)])
      .optional()
      .meta({
        defaultText: '`$RUNTIME_DIRECTORY/fulcrum.sock` under systemd, `/run/fulcrum.sock` (root), else `$XDG_RUNTIME_DIR/fulcrum-UID.sock` or `/tmp/fulcrum-UID.sock`',
        description: 'the path of the control socket (`fulcrum reload`, `stop`, `status`), or `false` for none',
      }),
    user: converted((v) => lookupUser(account(v, 'user')), ACCOUNT)
      .optional()
      .describe(
        'started as root, the primary and its workers become this user (a name from /etc/passwd or a number) once everything listens. The primary keeps only `CAP_NET_BIND_SERVICE` (a port below 1024), `CAP_NET_ADMIN` (`services:`, `vrrp:`) and `CAP_NET_RAW` (`vrrp:`) as the configuration needs; workers keep none. The configuration file and Fulcrum\'s own files must be readable by that user. Read at start only',
      ),
    group: converted((v) => lookupGroup(account(v, 'group')), ACCOUNT)
      .optional()
      .meta({ defaultText: 'the user\'s group', description: 'the group to become, with `user` only (a name or a number)' }),
  })
  .describe('worker processes, draining, the control socket, the user to run as')
  .superRefine((r, ctx) => {
    if (r.group !== undefined && r.user === undefined) ctx.addIssue({ code: 'custom', path: ['group'], message: 'group without user: give runtime.user too' });
  })
  .transform(
    (r): RuntimeConfig => ({
      workers: r.workers,
      drainMs: r.drain_timeout,
      shutdownMs: r.shutdown_timeout,
      controlSocket: r.control_socket ?? null,
      user: r.user === undefined ? null : { uid: r.user.uid, gid: r.group ?? r.user.gid },
    }),
  );

/** A user or group as written: a name, or a number. */
function account(v: unknown, what: string): string | number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32) return v;
  if (typeof v === 'string' && v !== '') return /^\d+$/.test(v) ? Number(v) : v;
  throw new Error(`expected a ${what} name or number, got ${describeValue(v)}`);
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LogLevel[];

/** The `logging:` section. */
const logging = z.strictObject({
  level: z.enum(LOG_LEVELS).default(DEFAULT_LOGGING.level).describe('the least severe messages logged'),
  format: z.enum(['auto', 'json', 'pretty']).default(DEFAULT_LOGGING.format).describe('`auto`: readable on a terminal, else JSON'),
}).describe('the process log, on stderr');

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
});

/** What a successful parse of configSchema returns. */
export type ParsedConfig = z.output<typeof configSchema>;

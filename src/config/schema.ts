/**
 * The zod schema of the raw YAML document (snake_case keys). Every object is strict, so
 * unknown keys are reported; defaults come from defaults.ts; durations, sizes and
 * addresses are converted here, so a successful parse yields normalised values. What a
 * single field cannot know (names that must be unique, routes naming pools) is checked
 * by validate.ts.
 */
import { z } from 'zod';
import { parseBind, parseCidr, parseHostPattern, parseServerAddress, parseServerUrl } from './address.js';
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
  defaultServerUrl,
} from './defaults.js';
import {
  codeMap,
  DNS_POLICIES,
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
} from './dns.js';
import { describeValue, PathedError } from './field-error.js';
import { services } from './schema-services.js';
import { closest, didYouMean } from './suggest.js';
import { lookupGroup, lookupUser } from './accounts.js';
import type { AccessLogConfig, LogLevel, RuntimeConfig, BalanceAlgorithm, HashKey, HealthConfig, HttpCheckConfig, Limits, ListenerConfig, ListenerMode, OutlierConfig, Timeouts } from './types.js';
import { vrrpSchema } from './schema-vrrp.js';
import { parseDuration, parseSeconds, parseSize } from './units.js';
import { hstsSchema, http2Schema, httpsRedirectSchema, listenerTlsSchema, poolTlsSchema } from './schema-tls.js';
import { defaultHttp2 } from './tls-defaults.js';

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
export function converted<T>(convert: (v: unknown) => T) {
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
  });
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
  });
}

/** A timeout: a positive duration. */
const durationMs = positiveDuration('a timeout of 0 would expire at once');
const intervalMs = positiveDuration('an interval of 0 would check without pause');

/** A duration where 0 (with or without a unit) means "off". */
const durationOrZeroMs = converted(anyDuration);

const sizeBytes = converted((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a size such as "16KiB" or 512, got ${describeValue(v)}`);
  }
  return parseSize(v);
});

/** An integer field limited to min..max (inclusive). */
export function intRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new Error(`must be an integer ${range}, got ${describeValue(v)}`);
    }
    return v;
  });
}

/** A number (not necessarily an integer) limited to min..max (inclusive). */
function numberRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new Error(`must be a number from ${min} to ${max}, got ${describeValue(v)}`);
    }
    return v;
  });
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
});

const timeoutsOverride = z
  .strictObject({
    header: durationMs.optional(),
    keepalive: durationMs.optional(),
    connect: durationMs.optional(),
    server: durationMs.optional(),
    client: durationMs.optional(),
    body: durationOrZeroMs.optional(),
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

const limitsOverride = z
  .strictObject({
    header_size: sizeBytes.optional(),
    url_size: sizeBytes.optional(),
    header_count: intRange(1, Number.MAX_SAFE_INTEGER).optional(),
    body_min_rate: sizeBytes.optional(),
  })
  .transform((l) => defined<Limits>({ headerBytes: l.header_size, urlBytes: l.url_size, headerCount: l.header_count, bodyMinRate: l.body_min_rate }));

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

const forwarded = z
  .strictObject({
    headers: z.enum(['x-forwarded', 'forwarded', 'both', 'none']).default(DEFAULT_FORWARDED.headers),
    trusted: converted(cidrs).default(() => [...DEFAULT_FORWARDED.trusted]),
    via: z.boolean().default(DEFAULT_FORWARDED.via),
  })
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
    }),
  })
  .transform((p) => ({ trusted: p.trusted }));

/** The statuses redirect mode may answer with, in the order messages list them. */
export const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const satisfies ReadonlyArray<ListenerConfig['redirect']['status']>;

const redirect = z
  .strictObject({
    status: converted((v): ListenerConfig['redirect']['status'] => {
      const status = REDIRECT_STATUSES.find((s) => s === v);
      if (status === undefined) throw new Error(`expected one of 301, 302, 303, 307 or 308, got ${describeValue(v)}`);
      return status;
    }).default(DEFAULT_REDIRECT.status),
  })
  .transform((r) => ({ status: r.status }));

const tcp = z
  .strictObject({
    idle_timeout: durationMs.default(DEFAULT_TCP.idleMs),
    hello_timeout: durationMs.default(DEFAULT_TCP.helloTimeoutMs),
  })
  .transform((t) => ({ idleMs: t.idle_timeout, helloTimeoutMs: t.hello_timeout }));

const udp = z
  .strictObject({
    session_idle: positiveDuration('a session idle time of 0 would end every session at once').default(DEFAULT_UDP.sessionIdleMs),
    max_sessions: intRange(1, 1_000_000).default(DEFAULT_UDP.maxSessions),
    per_packet: z.boolean().default(DEFAULT_UDP.perPacket),
  })
  .transform((u) => ({ sessionIdleMs: u.session_idle, maxSessions: u.max_sessions, perPacket: u.per_packet }));

const noRoute = z.strictObject({
  status: intRange(200, 599)
    .refine((s) => s !== 204 && s !== 304, 'a no_route answer carries a body, so it cannot be 204 or 304')
    .default(DEFAULT_NO_ROUTE.status),
  body: z.string().default(DEFAULT_NO_ROUTE.body),
});

export const ACCESS_LOG_FORMATS = ['json', 'common', 'combined'] as const satisfies ReadonlyArray<AccessLogConfig['format']>;

/** `access_log: stdout`, `access_log: /var/log/fulcrum/www.log`, or `{path, format}`. */
const accessLog = z
  .union([z.string().min(1, 'expected "stdout" or a file path'), z.strictObject({ path: z.string().min(1).default('stdout'), format: z.enum(ACCESS_LOG_FORMATS).default(DEFAULT_ACCESS_LOG_FORMAT) })])
  .transform((a): AccessLogConfig => (typeof a === 'string' ? { path: a, format: DEFAULT_ACCESS_LOG_FORMAT } : a));

const listener = z
  .strictObject({
    name,
    bind: converted((v) => parseBind(requireString('HOST:PORT', '"127.0.0.1:8080" or ":8080"')(v))),
    mode: z.enum(LISTENER_MODES).default(DEFAULT_MODE),
    // optional only with https_redirect (checked by validate-tls.ts)
    routes: z.array(route).min(1, 'a listener needs at least one route, e.g. `- pool: web`').optional(),
    forwarded: forwarded.prefault({}),
    no_route: noRoute.prefault({}),
    timeouts: timeoutsOverride.prefault({}),
    limits: limitsOverride.prefault({}),
    max_connections: intRange(0, Number.MAX_SAFE_INTEGER).default(0),
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
    name: name.optional(),
    address: converted((v) => parseServerAddress(requireString('HOST:PORT', '"192.0.2.11:80"')(v))),
    weight: intRange(0, 256).default(DEFAULT_WEIGHT),
    backup: z.boolean().default(false),
    max_conn: intRange(0, 1_000_000).default(0),
    check_address: converted((v) => parseServerAddress(requireString('HOST:PORT', '"192.0.2.11:8081"')(v))).optional(),
    check_port: intRange(1, 65535).optional(),
    url: converted((v) => parseServerUrl(requireString('a URL', '"https://s1.example.com"')(v))).optional(),
  })
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

/** Every `balance:` value, in the order messages list them. */
export const BALANCE_ALGORITHMS = ['round-robin', 'random', 'least-conn', 'maglev', 'sticky', 'first'] as const satisfies readonly BalanceAlgorithm[];

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
});

const sticky = z
  .strictObject({
    cookie: converted(cookieName).default(DEFAULT_STICKY.cookie),
    fallback: z.enum(['round-robin', 'random', 'least-conn']).default(DEFAULT_STICKY.fallback),
  })
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
});

const httpCheck = z
  .strictObject({
    method: converted((v) => {
      const s = requireString('a method', '"GET" or "HEAD"')(v);
      if (!TOKEN.test(s)) throw new Error(`invalid method ${JSON.stringify(s)}: a method is a single word such as GET or HEAD (${TOKEN_CHARS})`);
      return s;
    }).default(DEFAULT_HTTP_CHECK.method),
    path: converted((v) => {
      const s = requireString('a path', '"/healthz"')(v);
      if (!s.startsWith('/')) throw new Error(`check path ${JSON.stringify(s)} must start with "/"`);
      if (/[\s\x00-\x1f\x7f#]/.test(s)) throw new Error(`check path ${JSON.stringify(s)} may not contain spaces, control characters or "#"`);
      return s;
    }).default(DEFAULT_HTTP_CHECK.path),
    host: converted((v) => {
      const s = requireString('a host name', '"www.example.com"')(v);
      if (s.includes('*')) throw new Error(`${JSON.stringify(s)}: the Host header of a check names one host; a wildcard is not allowed`);
      parseHostPattern(s);
      return s;
    }).optional(),
    expect_status: statusRanges.default(() => DEFAULT_HTTP_CHECK.expectStatus.map(([a, b]): [number, number] => [a, b])),
    body_match: converted((v) => {
      const s = requireString('text', '"ok"')(v);
      if (s === '') throw new Error('an empty body_match matches every body: leave it out instead');
      return s;
    }).optional(),
  })
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
    type: z.enum(['http', 'tcp']).default(DEFAULT_HEALTH.type),
    interval: intervalMs.default(DEFAULT_HEALTH.intervalMs),
    fast_interval: intervalMs.optional(),
    jitter: numberRange(0, 1).default(DEFAULT_HEALTH.jitter),
    // default: 1s, or the interval when that is shorter (HAProxy's `timeout check` defaults to `inter`)
    timeout: durationMs.optional(),
    rise: intRange(1, 100).default(DEFAULT_HEALTH.rise),
    fall: intRange(1, 100).default(DEFAULT_HEALTH.fall),
    initial: z.enum(['up', 'down']).default(DEFAULT_HEALTH.initial),
    // Checked against `type` (and timeout against interval) by validate.ts.
    http: httpCheck.prefault({}),
  })
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
    consecutive_errors: intRange(1, 1000).default(DEFAULT_OUTLIER.consecutiveErrors),
    base_ejection: positiveDuration('an ejection of 0 would end at once').default(DEFAULT_OUTLIER.baseEjectionMs),
    max_ejection_percent: intRange(0, 100).default(DEFAULT_OUTLIER.maxEjectionPercent),
  })
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
    balance: z.enum(BALANCE_ALGORITHMS).default(DEFAULT_BALANCE),
    hash: hashKey.default(() => ({ ...DEFAULT_HASH })),
    sticky: sticky.prefault({}),
    servers: z.array(server).min(1, 'a pool needs at least one server, e.g. `- address: 192.0.2.11:80`'),
    health: health.optional(),
    outlier: outlier.optional(),
    slow_start: durationOrZeroMs.default(0),
    retries: intRange(0, 10).default(DEFAULT_RETRIES),
    queue: z
      .strictObject({
        size: intRange(0, 100_000).default(DEFAULT_QUEUE.size),
        timeout: durationMs.default(DEFAULT_QUEUE.timeoutMs),
      })
      .prefault({})
      .transform((q) => ({ size: q.size, timeoutMs: q.timeout })),
    keepalive: z
      .strictObject({
        max_idle: intRange(0, 65535).default(DEFAULT_KEEPALIVE.maxIdle),
        idle_timeout: durationMs.default(DEFAULT_KEEPALIVE.idleTimeoutMs),
      })
      .prefault({})
      .transform((k) => ({ maxIdle: k.max_idle, idleTimeoutMs: k.idle_timeout })),
    // Which listeners may use a pool that sends PROXY headers is checked by validate.ts.
    send_proxy: z.enum(['v1', 'v2']).optional(),
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
  return converted((v) => parseSeconds(v, max));
}

const soa = z
  .strictObject({
    mname: converted(nameText).optional(),
    rname: converted(rnameText).optional(),
    serial: intRange(0, MAX_SERIAL).default(DEFAULT_SOA.serial),
    refresh: seconds().default(DEFAULT_SOA.refresh),
    retry: seconds().default(DEFAULT_SOA.retry),
    expire: seconds().default(DEFAULT_SOA.expire),
    minimum: seconds().default(DEFAULT_SOA.minimum),
    ttl: seconds().default(DEFAULT_SOA.ttl),
  })
  .transform((s) => defined(s) as ParsedDns['zones'][number]['soa']);

/** A static record; its data is checked against its type, and names joined to the origin, by validate-dns.ts and dns.ts. */
const dnsRecord = z.strictObject({
  name: converted(nameText),
  type: converted(recordType),
  ttl: seconds().default(DEFAULT_RECORD_TTL),
  data: converted((v) => v),
});

/** A pool-backed name. Which keys go with which policy, and the pools and servers named, are checked by validate-dns.ts. */
const poolName = z
  .strictObject({
    name: converted(nameText),
    pool: converted(requireString('a pool name', '"web"')),
    ttl: seconds().default(DEFAULT_POOL_NAME.ttl),
    policy: z.enum(DNS_POLICIES).default(DEFAULT_POOL_NAME.policy),
    subset: z
      .strictObject({
        size: intRange(1, 65535).default(DEFAULT_POOL_NAME.subsetSize),
        mode: z.enum(SUBSET_MODES).default(DEFAULT_POOL_NAME.subsetMode),
      })
      .optional(),
    groups: converted(parseGroups).optional(),
    when_none_usable: z.enum(WHEN_NONE_USABLE).default(DEFAULT_POOL_NAME.whenNoneUsable),
    steering: z
      .array(
        z.strictObject({
          cidr: converted((v) => parseCidr(requireString('a CIDR', '"198.51.100.0/24"')(v))),
          pool: converted(requireString('a pool name', '"web-eu"')),
        }),
      )
      .default([]),
    steering_file: converted(pathText).optional(),
    geoip: z
      .strictObject({
        database: converted(pathText),
        countries: converted(codeMap('country')).default({}),
        continents: converted(codeMap('continent')).default({}),
      })
      .optional(),
  })
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
  origin: converted(parseOrigin),
  soa: soa.prefault({}),
  transfer: z.boolean().default(false),
  records: z.array(dnsRecord).default([]),
  pools: z.array(poolName).default([]),
});

/** The `dns:` section: the authoritative DNS server (see dns.ts and validate-dns.ts). */
const dns = z
  .strictObject({
    listen: converted(parseListen),
    tcp_idle_timeout: durationMs.default(DEFAULT_DNS_TCP_IDLE_MS),
    tcp_message_timeout: durationMs.default(DEFAULT_DNS_TCP_MESSAGE_MS),
    tcp_max_connections: intRange(1, 1_000_000).default(DEFAULT_DNS_TCP_MAX_CONNECTIONS),
    tcp_max_per_client: intRange(1, 1_000_000).default(DEFAULT_DNS_TCP_MAX_PER_CLIENT),
    zones: z.array(zone).min(1, 'the DNS server needs at least one zone, e.g. `- {origin: example.com, records: [...]}`'),
  })
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
});

/** The `runtime:` section: worker processes, draining, the control socket. */
const runtime = z
  .strictObject({
    workers: workers.default(DEFAULT_RUNTIME.workers),
    drain_timeout: durationMs.default(DEFAULT_RUNTIME.drainMs),
    shutdown_timeout: durationMs.default(DEFAULT_RUNTIME.shutdownMs),
    control_socket: z.union([z.string().min(1, 'expected a path, or false for no control socket'), z.literal(false)]).optional(),
    user: converted((v) => lookupUser(account(v, 'user'))).optional(),
    group: converted((v) => lookupGroup(account(v, 'group'))).optional(),
  })
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
  level: z.enum(LOG_LEVELS).default(DEFAULT_LOGGING.level),
  format: z.enum(['auto', 'json', 'pretty']).default(DEFAULT_LOGGING.format),
});

/**
 * The whole file. Parsing yields listeners with their own overrides (timeouts and limits
 * not yet merged with the globals) and pools as a plain object; load.ts turns that into
 * a Config.
 */
export const configSchema = z.strictObject({
  // Both required (and listeners non-empty) unless the file has a `dns` section: checked by validate.ts.
  listeners: z.array(listener).default([]),
  pools: z.record(z.string(), pool).default({}),
  timeouts: timeoutsOverride.prefault({}),
  limits: limitsOverride.prefault({}),
  dns: dns.optional(),
  runtime: runtime.prefault({}),
  logging: logging.prefault({}),
  vrrp: vrrpSchema.optional(),
  services: services.optional(),
});

/** What a successful parse of configSchema returns. */
export type ParsedConfig = z.output<typeof configSchema>;

/**
 * The zod schema of a pool (`pools.NAME`): servers, balancing, health checks, outlier
 * detection, queue and keep-alive. Which keys go with which `balance` is checked by
 * checks.ts.
 */
import { z } from 'zod';
import { text } from '../common/field-meta.js';
import { parseHostPattern, parseServerAddress, parseServerUrl } from '../common/address.js';
import { DEFAULT_BALANCE, DEFAULT_HASH, DEFAULT_HEALTH, DEFAULT_HTTP2, DEFAULT_HTTP_CHECK, DEFAULT_KEEPALIVE, DEFAULT_OUTLIER, DEFAULT_QUEUE, DEFAULT_RETRIES, DEFAULT_STICKY, DEFAULT_WEIGHT, defaultFastInterval, MIN_DEFAULT_FAST_INTERVAL_MS, defaultServerUrl } from './defaults.js';
import { PathedError } from '../common/field-error.js';
import { closest, didYouMean } from '../common/suggest.js';
import { ALGORITHMS } from '../../balance/algorithms.js';
import type { HashKey } from '../types.js';
import { formatDuration } from '../common/units.js';
import { poolTlsSchema } from '../tls/schema.js';
import { converted, requireString, positiveDuration, durationMs, intervalMs, durationOrZeroMs, intRange, numberRange, TOKEN, TOKEN_CHARS, headerName, cookieName, queryName, name, describeValue } from '../common/fields.js';

/** A server's fields, as written (pools/checks.ts reads them one by one). */
export const serverFields = z
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
  .meta({ title: 'Servers' });

export const serverSchema = serverFields
  .transform((s) => ({
    name: s.name,
    host: s.address.host,
    port: s.address.port,
    weight: s.weight,
    backup: s.backup,
    maxConn: s.max_conn,
    // check_address and check_port together are refused by checks.ts.
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

/** The HTTP check (HttpCheckConfig in types.ts). */
export const httpCheck = z
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
  .transform((h) => ({
    method: h.method,
    path: h.path,
    /** Host header; null: the server's check address. */
    host: h.host ?? null,
    /** Inclusive status ranges that pass, e.g. [[200, 399]]. */
    expectStatus: h.expect_status,
    /** A substring the body must contain; null: any body. */
    bodyMatch: h.body_match ?? null,
  }));

/** A health check's fields, as written. */
export const healthFields = z
  .strictObject({
    type: z
      .enum(['http', 'tcp', 'grpc'])
      .default(DEFAULT_HEALTH.type)
      .describe('`tcp`: a connect; `http`: a request, see `http` (over HTTP/2 when the pool\'s `protocol` is `h2` or `h2c`); `grpc`: gRPC\'s health protocol (grpc.health.v1.Health/Check answered SERVING), see `grpc`; for `protocol: h2` or `h2c` pools'),
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
    tls: z.boolean().optional().meta({
      defaultText: 'true when the pool has `tls` and no server has `check_port` or `check_address`',
      description: '`type: http` checks over TLS, with the pool\'s `tls` settings (certificate verification, SNI, client certificate), as HAProxy\'s `check-ssl`; `false`: plain HTTP (a health port without TLS)',
    }),
    // Checked against `type` (and timeout against interval) by checks.ts.
    http: httpCheck.prefault({}),
    grpc: z
      .strictObject({
        service: z.string().default('').describe('the service name asked about; empty: the server as a whole'),
      })
      .prefault({})
      .describe('with `type: grpc` only: the health check request'),
  })
  .meta({ title: 'Health checks', description: 'active health checks, run once per process and shared by every listener using the pool (absent: none)' });

/** Active health checks (HealthConfig in types.ts). */
export const health = healthFields
  .transform((h) => ({
    type: h.type,
    intervalMs: h.interval,
    /** Interval while a server's state is changing (a result differs from its current state). */
    fastIntervalMs: h.fast_interval ?? defaultFastInterval(h.interval),
    /** Each wait is the interval plus a random 0..jitter share of it (0..1). */
    jitter: h.jitter,
    timeoutMs: h.timeout ?? Math.min(DEFAULT_HEALTH.timeoutMs, h.interval),
    /** Consecutive passes that bring a down server up. */
    rise: h.rise,
    /** Consecutive failures that take an up server down. */
    fall: h.fall,
    /** State assumed until the first results decide. */
    initial: h.initial,
    http: h.http,
    /** HTTP checks over TLS: true, false, or absent (the pool's `tls`, unless checks go to another port). */
    ...(h.tls === undefined ? {} : { tls: h.tls }),
    /** type grpc only: the service asked about. */
    ...(h.type === 'grpc' ? { grpc: h.grpc } : {}),
  }));

/** Outlier detection (OutlierConfig in types.ts). */
export const outlier = z
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
    uneject_on_active_pass: z
      .boolean()
      .default(DEFAULT_OUTLIER.unejectOnActivePass)
      .describe('an ejected server returns at its next passing active health check, before its ejection time is up (as Envoy does by default); needs `health`'),
  })
  .describe('passive health (outlier detection): servers that fail real traffic are ejected for a while (absent: none)')
  .transform((o) => ({
    /** Consecutive connect errors, resets or 5xx answers that eject a server. */
    consecutiveErrors: o.consecutive_errors,
    /** First ejection time; the n-th ejection lasts n times this. */
    baseEjectionMs: o.base_ejection,
    /** Never eject more than this share of a pool's servers (0..100). */
    maxEjectionPercent: o.max_ejection_percent,
    /** A passing active check ends an ejection early. */
    unejectOnActivePass: o.uneject_on_active_pass,
  }));

/**
 * One pool; its name and the default server names are added by load.ts. Which keys go
 * with which `balance` (hash, sticky, max_conn for first) is checked by checks.ts.
 */
export const poolFields = z
  .strictObject({
    balance: z
      .enum(ALGORITHMS)
      .default(DEFAULT_BALANCE)
      .describe('how a server is picked; see docs/pools.md. Behind `tcp` and `udp` listeners not `sticky`'),
    hash: hashKey.default(() => ({ ...DEFAULT_HASH })).meta({
      default: DEFAULT_HASH.source,
      description: 'with `balance: maglev` only: the key hashed (the client\'s IP address, the path, a header, a cookie or a query parameter); requests without it spread at random. Behind `tcp` and `udp` listeners only `ip`',
    }),
    sticky: sticky.prefault({}),
    servers: z.array(serverSchema).min(1, 'a pool needs at least one server, e.g. `- address: 192.0.2.11:80`').describe('the pool\'s servers, at least one'),
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
    // Which listeners may use a pool that sends PROXY headers is checked by checks.ts.
    send_proxy: z
      .enum(['v1', 'v2'])
      .optional()
      .describe('start each connection to a server with a PROXY protocol header carrying the client\'s address (the servers must expect it). Not for pools of `udp` listeners'),
    tls: poolTlsSchema().optional(),
    // h2 without tls, h2c with tls, send_proxy and tcp/udp listeners are refused by checks.ts.
    protocol: z
      .enum(['http1', 'h2c', 'h2'])
      .default('http1')
      .describe('what the balancer speaks to the servers: `http1` (HTTP/1.1, a connection per request in flight), `h2c` (HTTP/2 with prior knowledge over plain TCP) or `h2` (HTTP/2 over TLS by ALPN; needs `tls`). HTTP/2 multiplexes requests over few connections and carries gRPC; see docs/grpc.md'),
    http2: z
      .strictObject({
        max_streams: intRange(1, 10_000)
          .default(DEFAULT_HTTP2.maxStreams)
          .describe('requests at once on one connection to a server; a new connection opens when every one is full (the server\'s own SETTINGS_MAX_CONCURRENT_STREAMS lowers it)'),
        ping_interval: durationOrZeroMs
          .default(DEFAULT_HTTP2.pingIntervalMs)
          .describe('a connection quiet for this long is checked with a PING, and closed when the answer takes as long again (0: no pings)'),
      })
      .prefault({})
      .describe('with `protocol: h2` or `h2c` only: connections to the servers')
      .transform((h) => ({ maxStreams: h.max_streams, pingIntervalMs: h.ping_interval })),
  });

/** A pool as load.ts receives it. */
export const pool = poolFields
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
    protocol: p.protocol,
    http2: p.http2,
  }));

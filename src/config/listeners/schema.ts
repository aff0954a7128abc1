/**
 * The zod schema of a listener (`listeners[]`) and of the global `timeouts` and `limits`
 * it may override. Which keys go with which mode is checked by checks.ts.
 */
import { z } from 'zod';
import { formatSize, oneOrList, text } from '../common/field-meta.js';
import { parseBind } from '../common/address.js';
import { DEFAULT_FORWARDED, DEFAULT_MODE, DEFAULT_NO_ROUTE, DEFAULT_REDIRECT, DEFAULT_TCP, DEFAULT_UDP, DEFAULT_TIMEOUTS, DEFAULT_LIMITS, DEFAULT_ACCESS_LOG_FORMAT, DEFAULT_REQUEST_ID } from './defaults.js';
import { LOG_VARIABLES } from './log-template.js';
import type { AccessLogConfig, ErrorPages, Limits, ListenerConfig, ListenerMode, RequestIdConfig, Timeouts } from '../types.js';
import { formatDuration } from '../common/units.js';
import { hstsSchema, http2Schema, httpsRedirectSchema, listenerTlsSchema } from '../tls/schema.js';
import { defaultHttp2 } from '../tls/defaults.js';
import { compressionSchema } from './compression.js';
import { converted, requireString, positiveDuration, durationMs, durationOrZeroMs, sizeBytes, intRange, name, defined, describeValue } from '../common/fields.js';

/**
 * `timeouts`, globally or as a listener's overrides: `global` says which, for the
 * reference (the defaults are merged in by load.ts).
 */
export function timeoutsOverride(global: boolean) {
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
export function limitsOverride(global: boolean) {
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

export { routeFields, route } from './route.js';
import { route, cidrList } from './route.js';
import { rate } from './rate.js';

const cidrs = cidrList;

/** A CIDR or address, or a list of them. */
const CIDRS = oneOrList('CIDR or address, or a list');

/** Client-address headers (ForwardedConfig in types.ts). */
export const forwarded = z
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
  .transform((f) => ({
    /** Which client-address headers to add. */
    headers: f.headers,
    /**
     * Downstream proxies (CIDR strings, normalised with a prefix length) whose incoming
     * X-Forwarded-* / Forwarded headers are kept and appended to; from anyone else those
     * headers are removed before ours are added.
     */
    trusted: f.trusted,
    /** Add a `Via: 1.1 fulcrum` header to requests and responses. */
    via: f.via,
  }));

/** Every `mode:` value, in the order messages list them. */
export const LISTENER_MODES = ['http', 'redirect', 'tcp', 'udp'] as const satisfies readonly ListenerMode[];

/**
 * `proxy_protocol`: accept a PROXY header, only from `trusted` sources. Which modes may
 * have it is checked by checks.ts.
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

const pagePath = (status: number) =>
  converted(requireString('a file path', '"errors/503.html"'), text('file path'))
    .optional()
    .describe(`the body answered instead of Fulcrum's own ${status} text (read at start and reload; relative to the configuration file; its type from the extension: .html, .json, .txt)`);

const errorPages = z
  .strictObject({ 502: pagePath(502), 503: pagePath(503), 504: pagePath(504) })
  .describe('pages of the listener\'s own for the errors Fulcrum answers when a server or pool fails (they never name a server or pool)');

export const ACCESS_LOG_FORMATS = ['json', 'common', 'combined', 'custom'] as const satisfies ReadonlyArray<AccessLogConfig['format']>;

/** `access_log: stdout`, `access_log: /var/log/fulcrum/www.log`, or `{path, format, template}`. */
const accessLog = z
  .union([
    z.string().min(1, 'expected "stdout" or a file path'),
    z.strictObject({
      path: z.string().min(1).default('stdout').describe('`stdout` or a file path'),
      format: z
        .enum(ACCESS_LOG_FORMATS)
        .default(DEFAULT_ACCESS_LOG_FORMAT)
        .describe('`json`, `common`, `combined` (Combined Log Format), or `custom` (the line is `template`)'),
      // its variables are checked by checks.ts (errors inside a union lose their path)
      template: z
        .string()
        .optional()
        .meta({ type: 'template' })
        .describe(
          `format \`custom\` only: the line, with nginx-like variables \`$name\` or \`\${name}\` (\`$$\` for a \`$\`): ${Object.keys(LOG_VARIABLES).map((v) => `\`$${v}\``).join(', ')}, and \`$http_NAME\` for a request header (\`$http_user_agent\`); an absent value is \`-\``,
        ),
    }),
  ])
  .describe('one line per request (`http`, `redirect`) or per connection (`tcp`, JSON only): `stdout` or a file path alone (Combined Log Format), or `{path, format, template}`. Not in mode `udp`')
  .transform((a): AccessLogConfig => (typeof a === 'string' ? { path: a, format: DEFAULT_ACCESS_LOG_FORMAT, template: null } : { path: a.path, format: a.format, template: a.template ?? null }));

/** Fields the proxy reads or rewrites (http/header-ids.ts, Via): not for carrying request IDs. */
const MANAGED_FIELDS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'proxy-authenticate', 'proxy-authorization', 'cookie', 'via', 'set-cookie']);

/** `request_id`: an ID per request, to the server, back to the client and in the access log. */
const requestId = z
  .strictObject({
      enabled: z.boolean().default(true).describe('`false`: no IDs, and the header passes untouched (as when `request_id` is absent)'),
      header: converted((v) => {
        const h = requireString('a header name', '"X-Request-ID"')(v);
        if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) throw new Error(`${JSON.stringify(h)} is not a header field name (letters, digits and !#$%&'*+.^_\`|~-)`);
        if (MANAGED_FIELDS.has(h.toLowerCase())) throw new Error(`${h} is a field the proxy itself reads or writes: choose another, such as X-Request-ID`);
        return h;
      }, text('header name'))
        .default(DEFAULT_REQUEST_ID.header)
        .describe('the header field that carries the ID, on the request to the server and on the response'),
      generate: z
        .boolean()
        .default(DEFAULT_REQUEST_ID.generate)
        .describe('make an ID for a request that has none we keep (a trusted client\'s well-formed one); `false`: only trusted clients\' IDs pass'),
      response: z.boolean().default(DEFAULT_REQUEST_ID.response).describe('return the ID to the client on the response'),
  })
  .describe(
    'an ID for each request, sent to the server in `header`, returned on the response and written in the access log (`request_id`). A client in `forwarded.trusted` keeps its own when it is 1 to 128 visible ASCII characters; from anyone else the header is replaced. Absent: off, as in HAProxy and nginx (`request_id: {}` turns it on with these defaults). Not in modes `tcp` and `udp`',
  )
  .transform((r): RequestIdConfig | null => (r.enabled ? { header: r.header, generate: r.generate, response: r.response } : null));

/** A listener's fields, as written. */
export const listenerFields = z
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
    // optional only with https_redirect (checked by tls/checks.ts)
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
    access: z
      .strictObject({
        allow: converted(cidrs, CIDRS).optional().describe('only clients in these networks are served; others get 403'),
        deny: converted(cidrs, CIDRS).optional().describe('clients in these networks get 403'),
      })
      .optional()
      .describe('who may use the listener (HTTP): a refused client gets 403, and nothing reaches a server; `deny` wins over `allow`'),
    timeouts: timeoutsOverride(false).prefault({}).describe('overrides of the global `timeouts` for this listener'),
    limits: limitsOverride(false).prefault({}).describe('overrides of the global `limits` for this listener'),
    max_connections: intRange(0, Number.MAX_SAFE_INTEGER).default(0).describe('client connections at once; more are closed at accept (0: no limit)'),
    max_connections_per_client: intRange(1, 65_535).optional().meta({ defaultText: 'no limit', description: 'connections one client address may hold at once, across every worker; more are closed at accept (modes http, redirect, tcp)' }),
    new_connections_per_client: rate.optional().meta({ defaultText: 'no limit', description: 'new connections one client address may open, across every worker: "20/s", "600/m" (a burst of one second\'s worth); more are closed at accept (modes http, redirect, tcp)' }),
    // Which of these go with which mode (and the routes each mode allows) is checked by checks.ts.
    proxy_protocol: proxyProtocol.optional(),
    access_log: accessLog.optional(),
    request_id: requestId.optional(),
    redirect: redirect.prefault({}),
    tcp: tcp.prefault({}),
    udp: udp.prefault({}),
    // HTTPS and HTTP/2 (tls/schema.ts; which listeners may use them: tls/checks.ts)
    tls: listenerTlsSchema().optional(),
    http2: http2Schema().optional(),
    https_redirect: httpsRedirectSchema().optional(),
    hsts: hstsSchema().optional(),
    error_pages: errorPages.optional(),
    compression: compressionSchema.optional(),
  });

export const listener = listenerFields
  .transform((l) => ({
    name: l.name,
    host: l.bind.host,
    port: l.bind.port,
    mode: l.mode,
    routes: l.routes ?? [],
    forwarded: l.forwarded,
    noRoute: l.no_route,
    access: { allow: l.access?.allow ?? null, deny: l.access?.deny ?? null },
    timeoutOverrides: l.timeouts,
    limitOverrides: l.limits,
    maxConnections: l.max_connections,
    maxConnectionsPerClient: l.max_connections_per_client ?? null,
    newConnectionsPerClient: l.new_connections_per_client ?? null,
    proxyProtocol: l.proxy_protocol ?? null,
    accessLog: l.access_log ?? null,
    requestId: l.request_id ?? null,
    redirect: l.redirect,
    tcp: l.tcp,
    udp: l.udp,
    tls: l.tls ?? null,
    http2: l.http2 ?? defaultHttp2(),
    httpsRedirect: l.https_redirect ?? null,
    hsts: l.hsts ?? null,
    errorPages: (l.error_pages ?? {}) as ErrorPages,
    compression: l.compression ?? null,
  }));

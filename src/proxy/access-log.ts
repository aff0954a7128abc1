/**
 * Access logs: one line per HTTP request (JSON, Common or Combined Log Format, or a
 * template of the configuration's, compiled once per listener) or per
 * TCP connection (JSON), to stdout or a file. Lines are buffered by sonic-boom (pino's
 * destination, used directly) and written in whole lines, so several workers can append to one file
 * (O_APPEND), and flushed at least once a second. Files are reopened on SIGUSR1 (after
 * logrotate moved them).
 */
import { createRequire } from 'node:module';
import type { SonicBoom as SonicBoomClass } from 'sonic-boom';
import { parseLogTemplate } from '../config/listeners/log-template.js';
import type { AccessLogConfig } from '../config/types.js';
import type { RequestHead } from './http/head.js';
import { log } from '../core/log.js';

type Destination = SonicBoomClass;
/** sonic-boom is CommonJS whose module.exports is the class itself. */
const SonicBoom = createRequire(import.meta.url)('sonic-boom') as typeof SonicBoomClass;

/** One destination per path in this process, shared by the listeners that name it. */
const destinations = new Map<string, Destination>();

/** Buffered lines reach the file at least this often (as nginx's `flush=1s`). */
const FLUSH_EVERY_MS = 1000;
let flusher: NodeJS.Timeout | null = null;

function destinationFor(path: string): Destination {
  let d = destinations.get(path);
  if (d === undefined) {
    d = path === 'stdout' ? new SonicBoom({ fd: 1, minLength: 4096, sync: false }) : new SonicBoom({ dest: path, minLength: 4096, sync: false, mkdir: true, append: true });
    destinations.set(path, d);
    // a file that cannot be opened or written (its directory removed, a full disk) costs
    // log lines, never the process: an 'error' without a listener would be thrown
    let lastError = 0;
    d.on('error', (err: NodeJS.ErrnoException) => {
      const now = Date.now();
      if (now - lastError < 60_000) return;
      lastError = now;
      log().error(`access log ${path}: cannot write (${err.code ?? err.message}); lines are lost until it can be written again (reopen with SIGUSR1, or reload)`);
    });
    flusher ??= setInterval(() => {
      for (const x of destinations.values()) flushQuietly(x);
    }, FLUSH_EVERY_MS).unref();
  }
  return d;
}

function flushQuietly(d: Destination): void {
  try {
    d.flush();
  } catch {
    /* still opening, or closed: the next tick or write catches up */
  }
}

/** Reopens every access log file (SIGUSR1); stdout stays as it is. */
export function reopenAccessLogs(): void {
  for (const [path, d] of destinations) if (path !== 'stdout') d.reopen();
}

/** Writes out whatever is buffered (before exit). */
export function flushAccessLogs(): void {
  for (const d of destinations.values()) {
    try {
      d.flushSync();
    } catch {
      /* not open yet or already closed */
    }
  }
}

/** An HTTP request as the access log records it. */
export interface HttpAccess {
  client: string;
  /** When the request head arrived, ms since epoch. */
  at: number;
  req: RequestHead | null;
  /** The HTTP version the client spoke: "1.0", "1.1" or "2". */
  version: string;
  status: number;
  /** Bytes written to the client for this exchange (head and body). */
  bytes: number;
  /** The server that answered ("pool/name"), or null for our own answers. */
  server: string | null;
  /** The request ID (listener `request_id`), or null. */
  requestId: string | null;
  /** Milliseconds the last attempt took to get a server connection (0: a reused one); -1: none. */
  connectMs: number;
  /** Milliseconds from the start of the last attempt to the response head; -1: none came. */
  responseMs: number;
  /** How many times the request went to a server (0: answered by us without one). */
  attempts: number;
}

/** A TCP connection as the access log records it. */
export interface TcpAccess {
  client: string;
  clientPort: number;
  at: number;
  server: string | null;
  bytesIn: number;
  bytesOut: number;
  /** Why it ended, in a word. */
  end: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `10/Oct/2000:13:55:36 +0000`, in UTC (nginx's $time_local). */
function localTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** `[10/Oct/2000:13:55:36 +0000]`, in UTC. */
export function clfTime(ms: number): string {
  return `[${localTime(ms)}]`;
}

/** A header's value from a parsed head (`name` lower-case), or undefined. */
function header(req: RequestHead, name: string): string | undefined {
  for (let i = 0; i < req.names.length; i++) if (req.names[i]!.length === name.length && req.names[i]!.toLowerCase() === name) return req.values[i];
  return undefined;
}

/** Quotes and backslashes escaped. */
function escaped(v: string): string {
  return v.replace(/[\\"]/g, (c) => `\\${c}`);
}

/** A quoted CLF field: `-` when absent, quotes and backslashes escaped. */
function quoted(v: string | undefined): string {
  return v === undefined ? '"-"' : `"${escaped(v)}"`;
}

/** The request line as logs write it ("-" when none was read); HTTP/2 as nginx and Apache write it. */
function requestLine(a: HttpAccess): string {
  const r = a.req;
  return r === null ? '-' : `${r.method} ${r.target} HTTP/${a.version === '2' ? '2.0' : a.version}`;
}

/** The Common Log Format line of a request. */
export function commonLine(a: HttpAccess): string {
  return `${a.client} - - ${clfTime(a.at)} ${quoted(requestLine(a))} ${a.status} ${a.bytes === 0 ? '-' : a.bytes}`;
}

/** The Combined Log Format: Common plus Referer and User-Agent. */
export function combinedLine(a: HttpAccess): string {
  const r = a.req;
  return `${commonLine(a)} ${quoted(r === null ? undefined : header(r, 'referer'))} ${quoted(r === null ? undefined : header(r, 'user-agent'))}`;
}

/** A JSON line of a request. */
export function jsonLine(listener: string, a: HttpAccess, now: number): string {
  const r = a.req;
  return JSON.stringify({
    time: new Date(a.at).toISOString(),
    listener,
    client: a.client,
    method: r?.method ?? null,
    target: r?.target ?? null,
    version: r === null ? null : a.version,
    host: r?.host ?? null,
    status: a.status,
    bytes: a.bytes,
    duration_ms: now - a.at,
    server: a.server,
    referer: r === null ? null : (header(r, 'referer') ?? null),
    user_agent: r === null ? null : (header(r, 'user-agent') ?? null),
    request_id: a.requestId,
    upstream_connect_ms: a.connectMs < 0 ? null : a.connectMs,
    upstream_response_ms: a.responseMs < 0 ? null : a.responseMs,
    attempts: a.attempts,
  });
}

/** One variable of a custom template: its text for a request, or undefined for `-`. */
type Getter = (a: HttpAccess, now: number, listener: string) => string | number | undefined;

/** Milliseconds as seconds with milliseconds ("0.105"), or undefined when `ms` < 0. */
function seconds(ms: number): string | undefined {
  return ms < 0 ? undefined : (ms / 1000).toFixed(3);
}

const GETTERS: Record<string, Getter> = {
  remote_addr: (a) => a.client,
  time_local: (a) => localTime(a.at),
  time_iso8601: (a) => new Date(a.at).toISOString(),
  msec: (a) => (a.at / 1000).toFixed(3),
  request: (a) => escaped(requestLine(a)),
  method: (a) => a.req?.method,
  target: (a) => (a.req === null ? undefined : escaped(a.req.target)),
  version: (a) => (a.req === null ? undefined : a.version),
  host: (a) => (a.req?.host === undefined ? undefined : escaped(a.req.host)),
  status: (a) => a.status,
  bytes_sent: (a) => a.bytes,
  request_time: (a, now) => seconds(now - a.at),
  server: (a) => a.server ?? undefined,
  upstream_connect_time: (a) => seconds(a.connectMs),
  upstream_response_time: (a) => seconds(a.responseMs),
  upstream_attempts: (a) => a.attempts,
  request_id: (a) => a.requestId ?? undefined,
  listener: (_a, _now, listener) => listener,
};

/** `$http_user_agent`: the request header `user-agent`, escaped. */
function headerGetter(name: string): Getter {
  return (a) => {
    const v = a.req === null ? undefined : header(a.req, name);
    return v === undefined ? undefined : escaped(v);
  };
}

/**
 * Compiles a custom template (checked by the configuration) into a function that writes
 * one line: the text between variables and the variables' getters, in arrays made once.
 * Values from the client (the request, headers) have quotes and backslashes escaped.
 */
export function compileTemplate(template: string): (listener: string, a: HttpAccess, now: number) => string {
  const { texts, vars } = parseLogTemplate(template);
  const getters = vars.map((v) => GETTERS[v] ?? headerGetter(v.slice(5).replace(/_/g, '-')));
  const n = getters.length;
  return (listener, a, now) => {
    let line = texts[0]!;
    for (let i = 0; i < n; i++) line += (getters[i]!(a, now, listener) ?? '-') + texts[i + 1]!;
    return line;
  };
}

/** One listener's access log. */
export class AccessLog {
  private readonly dest: Destination;
  private readonly line: (listener: string, a: HttpAccess, now: number) => string;

  constructor(
    readonly listener: string,
    readonly config: AccessLogConfig,
  ) {
    this.dest = destinationFor(config.path);
    const f = config.format;
    this.line = f === 'json' ? jsonLine : f === 'common' ? (_l, a) => commonLine(a) : f === 'combined' ? (_l, a) => combinedLine(a) : compileTemplate(config.template ?? '');
  }

  request(a: HttpAccess): void {
    this.dest.write(this.line(this.listener, a, Date.now()) + '\n');
  }

  connection(a: TcpAccess): void {
    const now = Date.now();
    this.dest.write(
      JSON.stringify({
        time: new Date(a.at).toISOString(),
        listener: this.listener,
        client: a.client,
        client_port: a.clientPort,
        server: a.server,
        bytes_in: a.bytesIn,
        bytes_out: a.bytesOut,
        duration_ms: now - a.at,
        end: a.end,
      }) + '\n',
    );
  }
}

/**
 * Access logs: one line per HTTP request (JSON, Common or Combined Log Format) or per
 * TCP connection (JSON), to stdout or a file. Lines are buffered by sonic-boom (pino's
 * destination, used directly) and written in whole lines, so several workers can append to one file
 * (O_APPEND), and flushed at least once a second. Files are reopened on SIGUSR1 (after
 * logrotate moved them).
 */
import { createRequire } from 'node:module';
import type { SonicBoom as SonicBoomClass } from 'sonic-boom';
import type { AccessLogConfig } from '../config/types.js';
import type { RequestHead } from './http/head.js';

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

/** `[10/Oct/2000:13:55:36 +0000]`, in UTC. */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  return `[${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000]`;
}

/** A header's value from a parsed head (`name` lower-case), or undefined. */
function header(req: RequestHead, name: string): string | undefined {
  for (let i = 0; i < req.names.length; i++) if (req.names[i]!.length === name.length && req.names[i]!.toLowerCase() === name) return req.values[i];
  return undefined;
}

/** A quoted CLF field: `-` when absent, quotes and backslashes escaped. */
function quoted(v: string | undefined): string {
  return v === undefined ? '"-"' : `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The Common Log Format line of a request. */
export function commonLine(a: HttpAccess): string {
  const r = a.req;
  // HTTP/2 as nginx and Apache write it
  const request = r === null ? '-' : `${r.method} ${r.target} HTTP/${a.version === '2' ? '2.0' : a.version}`;
  return `${a.client} - - ${clfTime(a.at)} ${quoted(request)} ${a.status} ${a.bytes === 0 ? '-' : a.bytes}`;
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
  });
}

/** One listener's access log. */
export class AccessLog {
  private readonly dest: Destination;

  constructor(
    readonly listener: string,
    readonly config: AccessLogConfig,
  ) {
    this.dest = destinationFor(config.path);
  }

  request(a: HttpAccess): void {
    const f = this.config.format;
    const line = f === 'json' ? jsonLine(this.listener, a, Date.now()) : f === 'common' ? commonLine(a) : combinedLine(a);
    this.dest.write(line + '\n');
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

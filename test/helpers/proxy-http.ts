/**
 * Helpers for the HTTP proxy integration tests: an in-process Fulcrum instance from
 * YAML, node:http and raw node:net backends on 127.0.0.1 port 0 that count their
 * connections, a byte-exact socket reader and minimal HTTP/1.1 message readers
 * (so tests can check the raw bytes that crossed the proxy).
 */
import http from 'node:http';
import net from 'node:net';
import { loadConfigText, formatIssue } from '../../src/config/load.js';
import { startInstance, type Instance } from '../../src/runtime/instance.js';

export const LOOPBACK = '127.0.0.1';
/** Default bound on every single wait in these helpers. */
export const WAIT_MS = 5000;

// ---- proxy -----------------------------------------------------------------------

export interface RunningProxy {
  instance: Instance;
  /** Port of the first listener. */
  port: number;
  /** Ports of all listeners, in configuration order. */
  ports: number[];
  stop(): Promise<void>;
}

/** Loads `yaml` (failing with every issue listed) and starts it in this process. */
export async function startProxy(yaml: string): Promise<RunningProxy> {
  const { config, issues } = loadConfigText(yaml, 'test');
  if (config === undefined) throw new Error(`bad test configuration:\n${issues.map(formatIssue).join('\n')}\n---\n${yaml}`);
  const instance = await startInstance(config);
  const ports = instance.listeners.map((l) => l.address().port);
  let stopped: Promise<void> | null = null;
  return {
    instance,
    port: ports[0]!,
    ports,
    stop: () => (stopped ??= instance.stop({ graceMs: 200 })),
  };
}

/**
 * A one-listener configuration on 127.0.0.1:0 with a catch-all route to pool `web`
 * over `servers` (ports, or "host:port" strings).
 */
export function simpleYaml(
  servers: Array<number | { port: number; name?: string; weight?: number }>,
  extra: { balance?: string; listener?: string; pool?: string; top?: string } = {},
): string {
  const lines = servers.map((s, i) => {
    const o = typeof s === 'number' ? { port: s } : s;
    return `      - { name: ${o.name ?? `S${i + 1}`}, address: "127.0.0.1:${o.port}", weight: ${o.weight ?? 1} }`;
  });
  return [
    'listeners:',
    '  - name: test',
    '    bind: 127.0.0.1:0',
    '    mode: http',
    '    routes: [{ pool: web }]',
    ...(extra.listener ? [extra.listener] : []),
    'pools:',
    '  web:',
    `    balance: ${extra.balance ?? 'round-robin'}`,
    '    servers:',
    ...lines,
    ...(extra.pool ? [extra.pool] : []),
    ...(extra.top ? [extra.top] : []),
    '',
  ].join('\n');
}

// ---- backends --------------------------------------------------------------------

export interface Backend<S extends net.Server> {
  server: S;
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Sockets currently open. */
  sockets: Set<net.Socket>;
  /** Closes the listener and destroys every socket (a crash, as seen from outside). Idempotent. */
  close(): Promise<void>;
}

function track<S extends net.Server>(server: S): Backend<S> {
  const b: Backend<S> = {
    server,
    port: 0,
    connections: 0,
    sockets: new Set(),
    close: () => closeServer(server, b.sockets),
  };
  server.on('connection', (sock: net.Socket) => {
    b.connections++;
    b.sockets.add(sock);
    sock.on('close', () => b.sockets.delete(sock));
  });
  return b;
}

const closing = new WeakMap<net.Server, Promise<void>>();
function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  let p = closing.get(server);
  if (p === undefined) {
    p = new Promise<void>((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });
    closing.set(server, p);
  }
  for (const s of sockets) s.destroy();
  sockets.clear();
  return p;
}

async function listen<S extends net.Server>(b: Backend<S>): Promise<Backend<S>> {
  await new Promise<void>((resolve, reject) => {
    b.server.once('error', reject);
    b.server.listen(0, LOOPBACK, () => {
      b.server.off('error', reject);
      resolve();
    });
  });
  b.port = (b.server.address() as net.AddressInfo).port;
  return b;
}

/** A node:http backend (keep-alive on, long keep-alive timeout so the proxy closes first). */
export async function httpBackend(handler: http.RequestListener, setup?: (s: http.Server) => void): Promise<Backend<http.Server>> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 30_000;
  setup?.(server);
  return listen(track(server));
}

/** A backend answering every request with 200 and `name` as body (and X-Served-By). */
export function namedBackend(name: string): Promise<Backend<http.Server>> {
  return httpBackend((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), 'X-Served-By': name });
      res.end(name);
    });
  });
}

/** A raw TCP backend; `onSocket` gets every accepted socket (allowHalfOpen on). */
export async function rawBackend(onSocket: (sock: net.Socket, reader: SocketReader) => void): Promise<Backend<net.Server>> {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => {});
    onSocket(sock, new SocketReader(sock));
  });
  return listen(track(server));
}

/** A port on 127.0.0.1 that nothing listens on (bound, read, closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

// ---- raw socket reading ------------------------------------------------------------

/**
 * Buffers what a socket receives and hands it out by exact amounts, with a bound on
 * every wait (the error message shows what did arrive).
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private length = 0;
  /** The peer sent FIN (or the socket closed). */
  ended = false;
  closed = false;
  /** Every byte received, when `keepAll` is set. */
  readonly all: Buffer[] = [];
  private wake: (() => void) | null = null;

  constructor(
    readonly sock: net.Socket,
    private readonly keepAll = false,
  ) {
    sock.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.length += c.length;
      if (this.keepAll) this.all.push(c);
      this.notify();
    });
    sock.on('end', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('close', () => {
      this.ended = true;
      this.closed = true;
      this.notify();
    });
  }

  /** Bytes buffered and not yet read. */
  get buffered(): number {
    return this.length;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private flat(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const b = this.flat();
    const out = b.subarray(0, n);
    const rest = b.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** Waits until `ready()` returns a value, new data arrives or the deadline passes. */
  private async until<T>(what: string, ready: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = ready();
      if (v !== undefined) return v;
      if (this.ended) throw new Error(`${what}: connection ended; unread bytes: ${JSON.stringify(this.flat().toString('latin1').slice(0, 500))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timed out after ${timeoutMs} ms; unread bytes: ${JSON.stringify(this.flat().toString('latin1').slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Everything up to and including the first CRLFCRLF, as latin1. */
  readHead(timeoutMs = WAIT_MS): Promise<string> {
    return this.until('reading a message head', () => {
      if (this.length === 0) return undefined;
      const i = this.flat().indexOf('\r\n\r\n');
      return i < 0 ? undefined : this.take(i + 4).toString('latin1');
    }, timeoutMs);
  }

  /** One line without its CRLF, as latin1. */
  readLine(timeoutMs = WAIT_MS): Promise<string> {
    return this.until('reading a line', () => {
      if (this.length === 0) return undefined;
      const i = this.flat().indexOf('\r\n');
      return i < 0 ? undefined : this.take(i + 2).subarray(0, i).toString('latin1');
    }, timeoutMs);
  }

  /** Exactly n bytes. */
  readBytes(n: number, timeoutMs = WAIT_MS): Promise<Buffer> {
    return this.until(`reading ${n} bytes`, () => (this.length >= n ? this.take(n) : undefined), timeoutMs);
  }

  /** At least one byte: whatever is buffered. */
  readSome(timeoutMs = WAIT_MS): Promise<Buffer> {
    return this.until('reading some bytes', () => (this.length > 0 ? this.take(this.length) : undefined), timeoutMs);
  }

  /** Everything until the peer's FIN. */
  async readToEnd(timeoutMs = WAIT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`reading to the end: no FIN after ${timeoutMs} ms (${this.length} bytes buffered)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.take(this.length);
  }

  /** Resolves true when the peer ends the connection within `timeoutMs`, false otherwise. */
  async waitEnd(timeoutMs = WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }
}

// ---- HTTP messages -----------------------------------------------------------------

export interface Message {
  /** The head exactly as received, with its final CRLFCRLF. */
  head: string;
  startLine: string;
  headers: Array<[string, string]>;
  /** The body after de-chunking. */
  body: Buffer;
  /** The body bytes exactly as they crossed the wire (chunk framing included). */
  rawBody: Buffer;
  chunked: boolean;
}

export interface Response extends Message {
  version: string;
  status: number;
  reason: string;
}

export interface Request extends Message {
  method: string;
  target: string;
  version: string;
}

function parseHeaders(head: string): { startLine: string; headers: Array<[string, string]> } {
  const lines = head.slice(0, -4).split('\r\n');
  const startLine = lines.shift()!;
  const headers = lines.map((l): [string, string] => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
  return { startLine, headers };
}

/** All values of a header (case-insensitive name), in order. */
export function headerValues(m: { headers: Array<[string, string]> }, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** The single value of a header, undefined when absent; throws when repeated. */
export function header(m: { headers: Array<[string, string]> }, name: string): string | undefined {
  const v = headerValues(m, name);
  if (v.length > 1) throw new Error(`header ${name} appears ${v.length} times: ${JSON.stringify(v)}`);
  return v[0];
}

async function readChunked(r: SocketReader, timeoutMs: number): Promise<{ body: Buffer; raw: Buffer }> {
  const body: Buffer[] = [];
  const raw: Buffer[] = [];
  for (;;) {
    const line = await r.readLine(timeoutMs);
    raw.push(Buffer.from(line + '\r\n', 'latin1'));
    const size = parseInt(line.split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
    if (size === 0) {
      for (;;) {
        const t = await r.readLine(timeoutMs);
        raw.push(Buffer.from(t + '\r\n', 'latin1'));
        if (t === '') return { body: Buffer.concat(body), raw: Buffer.concat(raw) };
      }
    }
    const data = await r.readBytes(size, timeoutMs);
    body.push(data);
    raw.push(data);
    const crlf = await r.readBytes(2, timeoutMs);
    if (crlf.toString('latin1') !== '\r\n') throw new Error('chunk data not followed by CRLF');
    raw.push(crlf);
  }
}

async function readBody(
  r: SocketReader,
  m: { headers: Array<[string, string]> },
  noBody: boolean,
  untilClose: boolean,
  timeoutMs: number,
): Promise<{ body: Buffer; rawBody: Buffer; chunked: boolean }> {
  if (noBody) return { body: Buffer.alloc(0), rawBody: Buffer.alloc(0), chunked: false };
  const te = headerValues(m, 'transfer-encoding').join(',').toLowerCase();
  if (te.trim().endsWith('chunked')) {
    const { body, raw } = await readChunked(r, timeoutMs);
    return { body, rawBody: raw, chunked: true };
  }
  const cl = headerValues(m, 'content-length');
  if (cl.length > 0) {
    const b = await r.readBytes(Number(cl[0]), timeoutMs);
    return { body: b, rawBody: b, chunked: false };
  }
  if (!untilClose) return { body: Buffer.alloc(0), rawBody: Buffer.alloc(0), chunked: false };
  const b = await r.readToEnd(timeoutMs);
  return { body: b, rawBody: b, chunked: false };
}

/**
 * Reads one response. `method` is the request's (HEAD responses have no body). Interim
 * 1xx responses are returned as they are (call again for the final one).
 */
export async function readResponse(r: SocketReader, method = 'GET', timeoutMs = WAIT_MS): Promise<Response> {
  const head = await r.readHead(timeoutMs);
  const { startLine, headers } = parseHeaders(head);
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(startLine);
  if (m === null) throw new Error(`bad status line ${JSON.stringify(startLine)}`);
  const status = Number(m[2]);
  const noBody = method === 'HEAD' || status < 200 || status === 204 || status === 304;
  const body = await readBody(r, { headers }, noBody, true, timeoutMs);
  return { head, startLine, headers, version: m[1]!, status, reason: m[3] ?? '', ...body };
}

/** Reads one request (a raw backend's view). */
export async function readRequest(r: SocketReader, timeoutMs = WAIT_MS): Promise<Request> {
  const head = await r.readHead(timeoutMs);
  const { startLine, headers } = parseHeaders(head);
  const [method, target, version] = startLine.split(' ');
  const body = await readBody(r, { headers }, false, false, timeoutMs);
  return { head, startLine, headers, method: method!, target: target!, version: version!, ...body };
}

/** A raw client connection to 127.0.0.1:port, with a reader (allowHalfOpen on). */
export async function rawConnect(port: number, keepAll = false): Promise<{ sock: net.Socket; reader: SocketReader }> {
  const sock = net.connect({ host: LOOPBACK, port, allowHalfOpen: true });
  sock.on('error', () => {});
  const reader = new SocketReader(sock, keepAll);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`connect to ${port} timed out`)), WAIT_MS);
    sock.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
    sock.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
  return { sock, reader };
}

/** Sends `request` on a new connection, reads one response and destroys the socket. */
export async function rawExchange(port: number, request: string | Buffer, method = 'GET', timeoutMs = WAIT_MS): Promise<Response> {
  const { sock, reader } = await rawConnect(port);
  try {
    sock.write(request);
    return await readResponse(reader, method, timeoutMs);
  } finally {
    sock.destroy();
  }
}

// ---- node:http client ------------------------------------------------------------------

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request with node:http (no agent unless given), bounded by `timeoutMs`. */
export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string; agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: LOOPBACK,
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: opts.agent ?? false,
        signal: AbortSignal.timeout(opts.timeoutMs ?? WAIT_MS),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Backends for the proxy tests, all on 127.0.0.1 port 0: `serve` listens with any server
 * and counts its connections; on top of it node:http backends (by handler, by name, echo,
 * slow or WebSocket), raw TCP backends (by socket handler, by name, echo) and a TLS one.
 * Every backend's close() ends its listener and destroys its sockets (a crash, as seen
 * from outside); the factories that take a TestContext close it after the test.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';
import { send, SocketReader } from './http-client.js';
import { LOOPBACK } from './ports.js';

/** A listening test server: its port, connection counts and close(). */
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

/**
 * Listens with `server` (net, http, https, tls) on `host`:`port` (127.0.0.1:0) and tracks
 * its connections: the base of every backend here. With `t`, it is closed after the test.
 */
export async function serve<S extends net.Server>(server: S, opts: { t?: TestContext; host?: string; port?: number } = {}): Promise<Backend<S>> {
  const b = track(server);
  opts.t?.after(() => b.close());
  await new Promise<void>((resolve, reject) => {
    b.server.once('error', reject);
    b.server.listen(opts.port ?? 0, opts.host ?? LOOPBACK, () => {
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
  return serve(server);
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
  return serve(server);
}

/** What the echo backend saw, as JSON in its answer. */
export interface Echo {
  name: string;
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
  sha256: string;
}

/** Reads a request body to its end: `done` gets its length and sha256 (hex). */
export function hashBody(req: http.IncomingMessage, done: (bytes: number, sha256: string) => void): void {
  const h = createHash('sha256');
  let n = 0;
  req.on('data', (c: Buffer) => {
    h.update(c);
    n += c.length;
  });
  req.on('end', () => done(n, h.digest('hex')));
}

/** A backend answering every request with the JSON of what it received (and X-Served-By). */
export async function echoBackend(t: TestContext, name: string, setup?: (s: http.Server) => void): Promise<Backend<http.Server>> {
  const b = await httpBackend((req, res) => {
    hashBody(req, (n, sha256) => {
      const echo: Echo = { name, method: req.method!, url: req.url!, httpVersion: req.httpVersion, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: n, sha256 };
      const body = JSON.stringify(echo);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-served-by': name });
      res.end(body);
    });
  }, setup);
  t.after(() => b.close());
  return b;
}

/** A backend that writes its name and closes each connection; stopped after the test. */
export async function nameServer(t: TestContext, name: string): Promise<Backend<net.Server>> {
  const b = await rawBackend((sock) => sock.end(name));
  t.after(() => b.close());
  return b;
}

/** A backend that echoes everything and ends when the client ends; stopped after the test. */
export async function echoServer(t: TestContext): Promise<Backend<net.Server>> {
  const b = await rawBackend((sock) => sock.pipe(sock));
  t.after(() => b.close());
  return b;
}

/** What runtimeBackend gives: its port and how many requests it answered. */
export interface RuntimeBackend {
  name: string;
  port: number;
  /** Requests answered so far. */
  served: number;
  close(): Promise<void>;
}

/**
 * A server answering its name; `/slow?ms=N` answers after N ms; WebSocket upgrades get
 * an echo server that prefixes every message with the name.
 */
export async function runtimeBackend(name: string): Promise<RuntimeBackend> {
  const b = { name, port: 0, served: 0 } as RuntimeBackend;
  const backend = await httpBackend((req, res) => {
    req.resume();
    const ms = req.url?.startsWith('/slow') ? Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 1000) : 0;
    const answer = () => {
      b.served++;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), 'X-Served-By': name });
      res.end(name);
    };
    req.on('end', () => (ms > 0 ? setTimeout(answer, ms) : answer()));
  });
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${name}:${String(data)}`)));
  b.port = backend.port;
  b.close = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await backend.close();
  };
  return b;
}

// ---- pool backends: health checks told from real traffic ---------------------------

/** The User-Agent of Fulcrum's HTTP health probe. */
export const HEALTH_UA = 'fulcrum-health';

/** A request Fulcrum's HTTP health probe sent (it identifies itself by User-Agent). */
export function isHealthCheck(req: http.IncomingMessage): boolean {
  return req.headers['user-agent'] === HEALTH_UA;
}

/** A request a pool backend holds unanswered. */
export interface Held {
  path: string;
  method: string;
  res: http.ServerResponse;
}

/** A pool backend: what it saw, what it answers, and the requests it holds. */
export interface PoolBackend {
  name: string;
  port: number;
  backend: Backend<http.Server>;
  /** Paths of real (non health-check) requests, in arrival order. */
  seen: string[];
  /** Health-check requests received. */
  checks: number;
  /** Health-check requests received per answered status. */
  checksByStatus: Map<number, number>;
  /** Status answered to health checks (change it at any time). */
  healthStatus: number;
  /** Status answered to real requests (change it at any time). */
  status: number;
  /** Hold real requests until release() (change it at any time). */
  hold: boolean;
  /** Real requests held, oldest first. */
  held: Held[];
  /** Real requests in progress (arrived, not answered yet) and the most at once. */
  inFlight: number;
  maxInFlight: number;
  /** Answers the `n` oldest held requests; returns how many it answered. */
  release(n?: number): number;
  /** Answers every held request, then closes the listener and every socket. */
  close(): Promise<void>;
}

/**
 * A node:http backend named `name`: health checks get `healthStatus` with body "ok";
 * real requests get `status` with body `name`, headers X-Served-By and X-Path, after
 * the request body has arrived (and, with `hold`, only once released).
 */
export async function poolBackend(name: string, opts: { hold?: boolean; status?: number; healthStatus?: number } = {}): Promise<PoolBackend> {
  const pb: PoolBackend = {
    name,
    port: 0,
    backend: undefined as unknown as Backend<http.Server>,
    seen: [],
    checks: 0,
    checksByStatus: new Map(),
    healthStatus: opts.healthStatus ?? 200,
    status: opts.status ?? 200,
    hold: opts.hold ?? false,
    held: [],
    inFlight: 0,
    maxInFlight: 0,
    release(n = 1) {
      let done = 0;
      while (done < n && pb.held.length > 0) {
        const h = pb.held.shift()!;
        answer(h.res, h.path);
        done++;
      }
      return done;
    },
    async close() {
      pb.release(pb.held.length);
      await pb.backend.close();
    },
  };
  const answer = (res: http.ServerResponse, path: string) => {
    pb.inFlight--;
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(pb.status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), 'X-Served-By': name, 'X-Path': path });
    res.end(name);
  };
  pb.backend = await httpBackend((req, res) => {
    if (isHealthCheck(req)) {
      req.resume();
      pb.checks++;
      const st = pb.healthStatus;
      pb.checksByStatus.set(st, (pb.checksByStatus.get(st) ?? 0) + 1);
      res.writeHead(st, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
      res.end('ok');
      return;
    }
    const path = req.url ?? '';
    pb.seen.push(path);
    pb.inFlight++;
    pb.maxInFlight = Math.max(pb.maxInFlight, pb.inFlight);
    req.resume();
    req.on('end', () => {
      if (pb.hold) pb.held.push({ path, method: req.method ?? '', res });
      else answer(res, path);
    });
  });
  pb.port = pb.backend.port;
  return pb;
}

/** Starts backends named `names`, closed in t.after. */
export async function poolBackends(t: TestContext, names: string[], opts: { hold?: boolean; status?: number; healthStatus?: number } = {}): Promise<PoolBackend[]> {
  const list: PoolBackend[] = [];
  t.after(() => Promise.all(list.map((b) => b.close())));
  for (const n of names) list.push(await poolBackend(n, opts));
  return list;
}

/** Sends `n` requests to 127.0.0.1:`port` on new connections (either worker may take each) and counts the new ones per backend. */
export async function spread(port: number, backends: PoolBackend[], n: number): Promise<number[]> {
  const before = backends.map((b) => b.seen.length);
  for (let i = 0; i < n; i++) {
    const r = await send(port, { path: `/r${i}`, headers: { connection: 'close' } });
    if (r.status !== 200) throw new Error(`request ${i}: status ${r.status} ${r.body}`);
  }
  return backends.map((b, i) => b.seen.length - before[i]!);
}

// ---- a scripted raw backend (the malformed-input corpus) ------------------------------

/** One request the backend saw complete (head, and body framed by CL or chunked). */
export interface BackendRequest {
  /** The head as latin1 text, including the final CRLF CRLF. */
  head: string;
  /** The body bytes (for chunked: the raw chunked encoding). */
  body: Buffer;
  /** Index of the connection it arrived on (0-based, in accept order). */
  conn: number;
}

/**
 * What the backend does once a complete request has arrived on a connection. It may
 * write to and close the socket as it likes; returning nothing leaves the connection
 * open for the next request.
 */
export type BackendScript = (req: BackendRequest, sock: net.Socket) => void;

/** A backend that answers every request with a small 200 and keeps the connection. */
export const okScript: BackendScript = (req, sock) => {
  const body = 'backend ok\n';
  sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nX-Backend-Conn: ${req.conn}\r\n\r\n${body}`);
};

/** Writes `bytes` (in one write) and keeps the connection open. */
export function sendRaw(bytes: string | Buffer): BackendScript {
  return (_req, sock) => {
    sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };
}

/** Writes `bytes`, then closes the connection (FIN). */
export function sendRawThenClose(bytes: string | Buffer): BackendScript {
  return (_req, sock) => {
    sock.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  };
}

/** Closes the connection without answering. */
export const closeScript: BackendScript = (_req, sock) => {
  sock.end();
};

/** Never answers (the connection stays open until the proxy gives up). */
export const silentScript: BackendScript = () => {};

/** A scripted raw backend: what it received, and its script. */
export interface ScriptedBackend {
  readonly port: number;
  /** What to do with each complete request; may be swapped between cases. */
  script: BackendScript;
  /** Every byte received since the last reset, all connections concatenated in arrival order. */
  readonly bytes: () => Buffer;
  /** Complete requests since the last reset. */
  readonly requests: BackendRequest[];
  /** Connections accepted since the last reset. */
  readonly connections: () => number;
  /** Forgets what was received (open connections stay open). */
  reset(): void;
  /** Closes the listener and destroys every open connection. */
  close(): Promise<void>;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Index just past the end of a chunked body starting at `from`, or -1 (lenient: test use only). */
function chunkedEnd(buf: Buffer, from: number): number {
  let i = from;
  for (let guard = 0; guard < 100_000; guard++) {
    const lf = buf.indexOf('\r\n', i);
    if (lf < 0) return -1;
    const size = parseInt(buf.toString('latin1', i, lf).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return -1;
    if (size === 0) {
      // trailers until an empty line
      let j = lf + 2;
      for (let t = 0; t < 1000; t++) {
        const e = buf.indexOf('\r\n', j);
        if (e < 0) return -1;
        if (e === j) return e + 2;
        j = e + 2;
      }
      return -1;
    }
    i = lf + 2 + size + 2;
    if (i > buf.length) return -1;
  }
  return -1;
}

/**
 * A raw TCP backend on 127.0.0.1 (ephemeral port) that records every byte it receives and
 * hands each complete request to `script` (swappable between cases).
 */
export async function scriptedBackend(script: BackendScript = okScript): Promise<ScriptedBackend> {
  let chunks: Buffer[] = [];
  let requests: BackendRequest[] = [];
  let connCount = 0;
  let connSeq = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    const conn = connSeq++;
    connCount++;
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.on('end', () => sock.end());
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buf = Buffer.concat([buf, chunk]);
      // hand every complete request to the script, in order (bounded loop)
      for (let n = 0; n < 100; n++) {
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end + 4);
        let bodyEnd = end + 4;
        const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
          const e = chunkedEnd(buf, end + 4);
          if (e < 0) return;
          bodyEnd = e;
        } else if (cl !== null) {
          bodyEnd = end + 4 + Number(cl[1]);
          if (bodyEnd > buf.length) return;
        }
        const req: BackendRequest = { head, body: buf.subarray(end + 4, bodyEnd), conn };
        buf = buf.subarray(bodyEnd);
        requests.push(req);
        backend.script(req, sock);
        if (sock.destroyed || sock.writableEnded) return;
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const backend: ScriptedBackend = {
    port: (server.address() as net.AddressInfo).port,
    script,
    bytes: () => Buffer.concat(chunks),
    get requests() {
      return requests;
    },
    connections: () => connCount,
    reset() {
      chunks = [];
      requests = [];
      connCount = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return backend;
}

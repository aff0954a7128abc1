/**
 * Shared helpers for the malformed-input corpus (test/integration/corpus-*.test.ts):
 * a scriptable raw TCP backend that records every byte it receives, a proxy instance
 * started from YAML, a raw client that sends bytes and collects the whole reply until
 * the proxy closes (or a deadline passes), and small response parsers.
 *
 * Everything listens on and connects to 127.0.0.1 only; every wait is bounded.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { loadConfigText } from '../../src/config/load.js';
import { startInstance, type Instance } from '../../src/runtime/instance.js';

// ---- backend ---------------------------------------------------------------------

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

export interface Backend {
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

/** Starts a raw TCP backend on 127.0.0.1 (ephemeral port) that records what it receives. */
export async function startBackend(script: BackendScript = okScript): Promise<Backend> {
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
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const backend: Backend = {
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

/** A 127.0.0.1 port that refuses connections (bound once, then released). */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- proxy -----------------------------------------------------------------------

/** Loads YAML (failing loudly on any issue) and starts an instance. */
export async function startProxy(yaml: string): Promise<{ instance: Instance; port: number }> {
  const { config, issues } = loadConfigText(yaml, 'corpus-test');
  assert.deepEqual(issues, [], 'test configuration must load without issues');
  assert.ok(config);
  const instance = await startInstance(config);
  return { instance, port: instance.listeners[0]!.address().port };
}

/** The corpus configuration: short timeouts and small limits, one listener on 127.0.0.1:0. */
export function corpusYaml(opts: { mainPort: number; refusedPort?: number }): string {
  const refused =
    opts.refusedPort === undefined
      ? ''
      : `  refused:
    servers:
      - address: 127.0.0.1:${opts.refusedPort}
`;
  const refusedRoute = opts.refusedPort === undefined ? '' : '      - host: refused.test\n        pool: refused\n';
  return `listeners:
  - name: corpus
    bind: 127.0.0.1:0
    routes:
${refusedRoute}      - pool: main
pools:
  main:
    servers:
      - address: 127.0.0.1:${opts.mainPort}
${refused}timeouts: {header: 300ms, keepalive: 500ms, connect: 300ms, server: 500ms, client: 500ms}
limits: {header_size: 4KiB, url_size: 1KiB, header_count: 50}
`;
}

// ---- client ----------------------------------------------------------------------

/** A piece of client input: bytes to write, or a pause in milliseconds. */
export type ClientStep = string | Buffer | { pauseMs: number };

export interface RawReply {
  /** Everything the proxy sent. */
  data: Buffer;
  /** `data` as latin1 text. */
  text: string;
  /** The proxy sent FIN. */
  ended: boolean;
  /** Socket error code (ECONNRESET, EPIPE, ...), if any. */
  error: string | undefined;
  /** Nothing closed the connection before the deadline. */
  timedOut: boolean;
  /** Milliseconds from connect to the end of the exchange. */
  elapsedMs: number;
}

/**
 * Connects to 127.0.0.1:port, writes `input` (strings as latin1; pauses in between),
 * never half-closes, and collects the reply until the proxy closes the connection (FIN
 * or reset) or `timeoutMs` passes.
 */
export function rawExchange(port: number, input: ClientStep | ClientStep[], timeoutMs = 2000): Promise<RawReply> {
  const steps = Array.isArray(input) ? input : [input];
  return new Promise((resolve) => {
    const started = Date.now();
    const got: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const sock = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const finish = () => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      sock.destroy();
      const data = Buffer.concat(got);
      resolve({ data, text: data.toString('latin1'), ended, error, timedOut, elapsedMs: Date.now() - started });
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        finish();
      }, timeoutMs),
    );
    sock.on('data', (c: Buffer) => got.push(c));
    sock.on('end', () => {
      ended = true;
      finish();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
      finish();
    });
    sock.on('close', finish);
    sock.on('connect', () => {
      let at = 0;
      for (const step of steps) {
        if (typeof step === 'object' && !Buffer.isBuffer(step)) {
          at += step.pauseMs;
          continue;
        }
        const bytes = typeof step === 'string' ? Buffer.from(step, 'latin1') : step;
        if (at === 0) sock.write(bytes);
        else timers.push(setTimeout(() => !sock.destroyed && sock.write(bytes), at));
      }
    });
  });
}

// ---- parsing ---------------------------------------------------------------------

/** Status line parts, or undefined when `text` does not start with one. */
export function parseStatusLine(text: string): { version: string; status: number; reason: string } | undefined {
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: ([^\r\n]*))?\r\n/.exec(text);
  if (m === null) return undefined;
  return { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '' };
}

export interface ParsedResponse {
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  /** Body as far as Content-Length says (or everything after the head without one). */
  body: string;
  /** The body was complete according to Content-Length. */
  complete: boolean;
  /** Bytes after this response (a second response, or garbage). */
  rest: string;
}

/** Parses the first response in `text` (latin1), or undefined when its head is incomplete/invalid. */
export function parseResponse(text: string): ParsedResponse | undefined {
  const sl = parseStatusLine(text);
  if (sl === undefined) return undefined;
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const headers = new Map<string, string>();
  for (const line of text.slice(text.indexOf('\r\n') + 2, end).split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  const after = text.slice(end + 4);
  const cl = headers.get('content-length');
  if (cl === undefined) return { status: sl.status, reason: sl.reason, headers, body: after, complete: false, rest: '' };
  const n = Number(cl);
  return {
    status: sl.status,
    reason: sl.reason,
    headers,
    body: after.slice(0, n),
    complete: after.length >= n,
    rest: after.slice(n),
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Asserts that `reply` is exactly one error response of the proxy with `status`, a
 * non-empty text body that names the status (and matches `mention` if given), and that
 * the proxy closed the connection with a FIN afterwards.
 */
export function assertErrorReply(reply: RawReply, status: number, mention?: RegExp): ParsedResponse {
  const res = parseResponse(reply.text);
  assert.ok(res, `expected an HTTP response, got ${JSON.stringify(reply.text.slice(0, 200))} (ended=${reply.ended}, error=${reply.error}, timedOut=${reply.timedOut})`);
  assert.equal(res.status, status, `status; reply was ${JSON.stringify(reply.text.slice(0, 300))}`);
  assert.ok(res.complete, 'error body complete per Content-Length');
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, 'error body is text');
  assert.ok(res.body.trim().length > 0, 'error body is not empty');
  assert.match(res.body, new RegExp(`\\b${status}\\b`), 'error body names the status');
  if (mention !== undefined) assert.match(res.body, mention, 'error body says what happened');
  assert.equal(res.rest, '', 'nothing after the error response');
  assert.match(res.headers.get('connection') ?? '', /close/i, 'Connection: close announced');
  assert.equal(reply.timedOut, false, 'the proxy closed the connection before the deadline');
  assert.equal(reply.ended, true, `the proxy closed with FIN (error=${reply.error})`);
  return res;
}

/**
 * Records uncaught exceptions (the proxy runs in the test process, so a throw inside one
 * of its socket handlers lands here; in production it would kill the balancer).
 */
export function watchUncaught(): { take(): string[]; stop(): void } {
  let seen: string[] = [];
  const onError = (err: unknown) => {
    seen.push(err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err));
  };
  process.on('uncaughtException', onError);
  return {
    take() {
      const out = seen;
      seen = [];
      return out;
    },
    stop() {
      process.off('uncaughtException', onError);
    },
  };
}

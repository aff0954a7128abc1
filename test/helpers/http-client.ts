/**
 * Clients for the proxy tests, every wait bounded: a byte-exact socket reader, minimal
 * HTTP/1.1 message readers (so tests can check the raw bytes that crossed the proxy),
 * raw exchanges, and real clients (node:http, node:tls, node:https, node:http2).
 * Everything connects to 127.0.0.1.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { LOOPBACK } from './ports.js';
import { ready, WAIT_MS } from './wait.js';

/** A client connection and its reader. */
export interface Client {
  sock: net.Socket;
  reader: SocketReader;
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

/** An HTTP/1.1 message as read off a socket. */
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

/** A response read by readResponse. */
export interface Response extends Message {
  version: string;
  status: number;
  reason: string;
}

/** A request read by readRequest. */
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

/**
 * A raw client connection to 127.0.0.1:port with a reader (allowHalfOpen on); `localAddress`
 * picks the source address, `keepAll` keeps every byte in `reader.all`, and with `t` the
 * socket is destroyed after the test. Rejects when it does not connect within WAIT_MS.
 */
export async function rawConnect(port: number, opts: { keepAll?: boolean; localAddress?: string; t?: TestContext } = {}): Promise<Client> {
  const sock = net.connect({ host: LOOPBACK, port, allowHalfOpen: true, localAddress: opts.localAddress });
  sock.on('error', () => {});
  const reader = new SocketReader(sock, opts.keepAll ?? false);
  opts.t?.after(() => sock.destroy());
  await ready(sock, 'connect', `connection to ${port}`);
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

/** Reads until the peer's FIN (or close), as latin1, then ends our side too. */
export async function readAll(c: Client, timeoutMs = WAIT_MS): Promise<string> {
  const text = (await c.reader.readToEnd(timeoutMs)).toString('latin1');
  c.sock.end();
  return text;
}

/** Resolves when the peer has ended (FIN, reset or close); throws after `timeoutMs`. */
export async function ended(c: Client, timeoutMs = WAIT_MS): Promise<void> {
  if (!(await c.reader.waitEnd(timeoutMs))) throw new Error(`the connection did not end within ${timeoutMs} ms`);
}

/** A piece of client input: bytes to write, or a pause in milliseconds. */
export type ClientStep = string | Buffer | { pauseMs: number };

/** What rawReply collected. */
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
export function rawReply(port: number, input: ClientStep | ClientStep[], timeoutMs = 2000): Promise<RawReply> {
  const steps = Array.isArray(input) ? input : [input];
  return new Promise((resolve) => {
    const started = Date.now();
    const got: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const sock = net.connect({ host: LOOPBACK, port, allowHalfOpen: true });
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

// ---- node:http, node:https and node:http2 clients ---------------------------------------

/** A response of `request`: the body as bytes. */
export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** Options of `request` and `send`. */
export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer | string;
  agent?: http.Agent | false;
  /** The client's source IP. */
  localAddress?: string;
  timeoutMs?: number;
}

/** One request with node:http (no agent unless given), bounded by `timeoutMs`. */
export function request(port: number, opts: RequestOptions = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: LOOPBACK,
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: opts.agent ?? false,
        localAddress: opts.localAddress,
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


/** A response as a test reads it: the body as UTF-8 text. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** X-Served-By, or '' for answers of the proxy itself. */
  by: string;
}

/** `request`, with the body as text and the X-Served-By header as `by`. */
export async function send(port: number, opts: RequestOptions = {}): Promise<Reply> {
  const r = await request(port, opts);
  return { status: r.status, headers: r.headers, body: r.body.toString('utf8'), by: String(r.headers['x-served-by'] ?? '') };
}

/** A keep-alive agent destroyed in t.after. */
export function keepAliveAgent(t: TestContext, maxSockets = 4): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  t.after(() => agent.destroy());
  return agent;
}

/** What a TLS handshake gave a client. */
export interface Handshake {
  sock: tls.TLSSocket;
  /** Common name of the certificate the server presented. */
  cn: string;
  alpn: string | false;
  protocol: string | null;
  reused: boolean;
  /** Resumption data the server gave (after the handshake, TLS 1.3 tickets come a little later). */
  session: () => Promise<Buffer>;
}

/** Connects with node:tls (no verification) and resolves after the handshake; rejects when it fails. */
export function handshake(port: number, opts: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false, ...opts });
    let session: Buffer | null = null;
    const waiters: Array<(s: Buffer) => void> = [];
    sock.on('session', (s: Buffer) => {
      session = s;
      for (const w of waiters.splice(0)) w(s);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no TLS handshake within ${WAIT_MS} ms`));
    }, WAIT_MS);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      sock.off('error', reject);
      sock.on('error', () => {});
      const cert = sock.getPeerCertificate();
      resolve({
        sock,
        cn: typeof cert.subject?.CN === 'string' ? cert.subject.CN : '',
        alpn: sock.alpnProtocol ?? false,
        protocol: sock.getProtocol(),
        reused: sock.isSessionReused(),
        session: () =>
          session !== null
            ? Promise.resolve(session)
            : new Promise<Buffer>((res, rej) => {
                const tm = setTimeout(() => rej(new Error('no TLS session from the server')), WAIT_MS);
                waiters.push((s) => {
                  clearTimeout(tm);
                  res(s);
                });
              }),
      });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One HTTPS request over HTTP/1.1 (node:https, a new connection unless `sock` is given through `agent`). */
export function httpsRequest(port: number, opts: { path?: string; host?: string; method?: string; body?: Buffer | string; servername?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      createConnection: () => tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false, servername: opts.servername ?? 'www.example.com', ALPNProtocols: ['http/1.1'] }),
      path: opts.path ?? '/',
      method: opts.method ?? 'GET',
      headers: { host: opts.host ?? 'www.example.com', ...opts.headers },
    } as http.RequestOptions);
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${WAIT_MS} ms`)), WAIT_MS);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), by: String(res.headers['x-served-by'] ?? '') });
      });
      res.on('error', reject);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

/** An HTTP/2 client session over TLS (ALPN h2, no verification) or h2c; closed after the test. */
export async function h2Session(t: TestContext, port: number, opts: { h2c?: boolean; servername?: string; settings?: http2.Settings } = {}): Promise<http2.ClientHttp2Session> {
  const authority = opts.h2c ? `http://${LOOPBACK}:${port}` : `https://${LOOPBACK}:${port}`;
  const session = http2.connect(authority, {
    ...(opts.h2c ? {} : { rejectUnauthorized: false, servername: opts.servername ?? 'www.example.com' }),
    ...(opts.settings ? { settings: opts.settings } : {}),
  });
  session.on('error', () => {});
  t.after(() => {
    if (!session.destroyed) session.destroy();
  });
  await ready(session, 'connect', 'HTTP/2 connection');
  return session;
}

/** An HTTP/2 response as a test reads it. */
export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on an HTTP/2 session; `body` is sent (and the stream ended) when given. */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':authority': 'www.example.com', ...headers }, { endStream: body === undefined });
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`no HTTP/2 response within ${WAIT_MS} ms`));
    }, WAIT_MS);
    let head: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      if (head === null) reject(new Error('stream ended without a response'));
      else resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) });
    });
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) stream.end(body);
  });
}

/** What a load loop counted. */
export interface LoadResult {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  errors: string[];
}

/**
 * Requests `path` on `port` with `concurrency` keep-alive clients until `stop()` is
 * called, or `maxMs` or `maxRequests` is reached, whichever comes first.
 */
export function loadLoop(port: number, opts: { path?: string; concurrency?: number; maxMs: number; maxRequests: number }): { stop(): Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 4 });
  const result: LoadResult = { ok: 0, failed: 0, errors: [] };
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: opts.path ?? '/', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) result.ok++;
          else fail(`status ${res.statusCode}`);
          resolve();
        });
        res.on('error', (e) => {
          fail(e.message);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        fail(e.message);
        resolve();
      });
    });
  const fail = (why: string) => {
    result.failed++;
    if (result.errors.length < 5) result.errors.push(why);
  };
  const worker = async () => {
    while (!stopped && Date.now() < deadline && result.ok + result.failed < opts.maxRequests) await one();
  };
  const workers = Array.from({ length: opts.concurrency ?? 4 }, worker);
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}

/** Connects, writes `text`, half-closes and resolves with everything read until the server's FIN. */
export function roundTrip(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer to ${text} within 5000 ms (got ${JSON.stringify(data)})`));
    }, 5000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => {
      clearTimeout(timer);
      c.end();
      resolve(data);
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.end(text);
  });
}

/**
 * Helpers for the HTTPS and HTTP/2 integration tests (test/integration/https-*.test.ts):
 * a YAML builder for a TLS listener, a backend that answers with what it received, and
 * real clients (node:tls, node:https, node:http2) whose every wait is bounded.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { httpBackend, LOOPBACK, WAIT_MS, type Backend } from '../helpers/proxy-http.js';
import type { CertFiles } from '../helpers/certs.js';

export { LOOPBACK, WAIT_MS };
/** startProxy, stopped after the test. */
export { proxyFor } from '../helpers/pools-util.js';

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

/**
 * A configuration with one TLS listener `www` on 127.0.0.1:0 (`certs` in order, the first
 * the default), routing everything to pool `web` over `servers` (ports). `tls` and
 * `listener` add lines under `tls:` (6 spaces in) and the listener (4 spaces in).
 */
export function httpsYaml(
  certs: Array<CertFiles & { names?: string[] }>,
  servers: number[],
  extra: { tls?: string[]; listener?: string[]; pool?: string[]; more?: string[] } = {},
): string {
  return [
    'listeners:',
    '  - name: www',
    '    bind: 127.0.0.1:0',
    '    tls:',
    '      certificates:',
    ...certs.map((c) => `        - { cert: "${c.cert}", key: "${c.key}"${c.names ? `, names: ${JSON.stringify(c.names)}` : ''} }`),
    ...(extra.tls ?? []).map((l) => `      ${l}`),
    '    routes: [{ pool: web }]',
    ...(extra.listener ?? []).map((l) => `    ${l}`),
    ...(extra.more ?? []),
    'pools:',
    '  web:',
    '    servers:',
    ...servers.map((p, i) => `      - { name: S${i + 1}, address: "127.0.0.1:${p}" }`),
    ...(extra.pool ?? []).map((l) => `    ${l}`),
    '',
  ].join('\n');
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

/** A response as a test reads it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
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
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() });
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
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no HTTP/2 connection within ${WAIT_MS} ms`)), WAIT_MS);
    session.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    session.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
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

/** Resolves when `emitter` emits `event` (rejects after WAIT_MS). */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${WAIT_MS} ms`)), WAIT_MS);
    emitter.once(event, (...args: T[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** The port a server listens on. */
export function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

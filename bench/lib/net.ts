/** Free ports and readiness checks on loopback. */
import { createServer, connect } from 'node:net';
import { request } from 'node:http';
import type { ManagedProcess } from './process.js';

export const LOOPBACK = '127.0.0.1';

/** Binds port 0 on 127.0.0.1, reads the port the kernel chose, closes, returns it. */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from bind(0)'))));
    });
  });
}

/** Whether `port` can be bound on `host` now (bound and closed at once). */
export function portFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A free port whose next one is free too (a primary's --inspect port: node:cluster gives its first worker the next), or an error after 50 tries. */
export async function freePortPair(host = LOOPBACK): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort(host);
    if (p < 65535 && (await portFree(p + 1, host))) return p;
  }
  throw new Error('no two adjacent free ports');
}

/** Distinct free ports (each bound and closed in turn, so they differ from one another). */
export async function freePorts(n: number, host = LOOPBACK): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort(host);
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

export function tcpConnectOnce(port: number, host = LOOPBACK, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
}

/** One GET on a fresh connection (no agent, Connection: close). */
export function httpGet(port: number, path = '/', host = LOOPBACK, timeoutMs = 2000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${host}:${port}${path}: timeout`)));
    req.once('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ReadyOptions {
  readonly host?: string;
  readonly path?: string;
  /** Total budget for TCP connect polling plus the first successful GET. */
  readonly timeoutMs?: number;
  /** If given, fail at once when this process exits, with its output. */
  readonly proc?: ManagedProcess;
  /** If given, the GET body must equal this. */
  readonly expectBody?: string;
}

/**
 * Waits until something serves HTTP on host:port: polls TCP connect, then retries a GET
 * until it answers 2xx (and expectBody, if given), all within timeoutMs (default 10 s).
 */
export async function waitForHttp(port: number, opts: ReadyOptions = {}): Promise<HttpResult> {
  const host = opts.host ?? LOOPBACK;
  const path = opts.path ?? '/';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const what = opts.proc ? `${opts.proc.name} (pid ${opts.proc.pid})` : `${host}:${port}`;
  const checkAlive = () => {
    if (opts.proc?.hasExited) {
      const info = opts.proc.exitInfo;
      throw new Error(
        `${what} exited (${info?.signal ?? `code ${info?.code}`}) before it was ready:\n${opts.proc.outputTail()}`,
      );
    }
  };
  while (!(await tcpConnectOnce(port, host, 500))) {
    checkAlive();
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening on ${host}:${port} after ${opts.timeoutMs ?? 10_000} ms`);
    await sleep(50);
  }
  let last = '';
  for (;;) {
    checkAlive();
    try {
      const res = await httpGet(port, path, host);
      if (res.status >= 200 && res.status < 300 && (opts.expectBody === undefined || res.body === opts.expectBody)) return res;
      last = `status ${res.status}, body ${JSON.stringify(res.body.slice(0, 80))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: no good HTTP answer on ${host}:${port}${path}: ${last}`);
    await sleep(100);
  }
}

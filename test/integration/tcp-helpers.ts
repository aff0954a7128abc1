/**
 * Helpers for the tcp listener integration tests (test/integration/tcp-*.test.ts): a
 * YAML builder for tcp listeners, clients with a byte-exact reader, backends that
 * name themselves or echo, a listening port that never accepts (for connect timeouts),
 * and real peers started by pid: HAProxy with a temp config, openssl for test
 * certificates. Every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext } from 'node:test';
import type { TcpFrontend } from '../../src/proxy/tcp/frontend.js';
import { LOOPBACK, rawBackend, SocketReader, startProxy, WAIT_MS, type Backend, type RunningProxy } from '../helpers/proxy-http.js';

export { LOOPBACK, WAIT_MS };

/** One pool for tcpYaml: server ports (or objects) and extra pool lines (YAML, 4 spaces in). */
export interface PoolSpec {
  servers: Array<number | { port: number; name?: string; weight?: number; extra?: string }>;
  balance?: string;
  lines?: string[];
}

/**
 * A configuration with one tcp listener on 127.0.0.1:0. `routes` are YAML flow maps
 * (default: one catch-all to the first pool); `listener` adds lines under the listener
 * (4 spaces in). Servers are named S1, S2... unless named.
 */
export function tcpYaml(pools: Record<string, PoolSpec>, opts: { routes?: string[]; listener?: string[] } = {}): string {
  const names = Object.keys(pools);
  const out = ['listeners:', '  - name: tcp', '    bind: 127.0.0.1:0', '    mode: tcp', '    routes:'];
  for (const r of opts.routes ?? [`{ pool: ${names[0]} }`]) out.push(`      - ${r}`);
  out.push(...(opts.listener ?? []));
  out.push('pools:');
  for (const [name, p] of Object.entries(pools)) {
    out.push(`  ${name}:`, `    balance: ${p.balance ?? 'round-robin'}`, ...(p.lines ?? []), '    servers:');
    p.servers.forEach((s, i) => {
      const o = typeof s === 'number' ? { port: s } : s;
      out.push(`      - { name: ${o.name ?? `S${i + 1}`}, address: "127.0.0.1:${o.port}", weight: ${o.weight ?? 1}${o.extra ? `, ${o.extra}` : ''} }`);
    });
  }
  return `${out.join('\n')}\n`;
}

/** Starts Fulcrum in-process from `yaml`, stopped after the test. */
export async function tcpProxy(t: TestContext, yaml: string): Promise<RunningProxy & { frontend: TcpFrontend }> {
  const p = await startProxy(yaml);
  t.after(() => p.stop());
  return { ...p, frontend: p.instance.listeners[0] as TcpFrontend };
}

/** A client connection and its reader. */
export interface Client {
  sock: net.Socket;
  reader: SocketReader;
}

/** Connects to 127.0.0.1:`port` (allowHalfOpen, optional local address); destroyed after the test. */
export async function connect(t: TestContext | null, port: number, localAddress?: string): Promise<Client> {
  const sock = net.connect({ port, host: LOOPBACK, allowHalfOpen: true, localAddress });
  sock.on('error', () => {});
  const reader = new SocketReader(sock);
  t?.after(() => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connect to ${port}: no connection within ${WAIT_MS} ms`)), WAIT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    sock.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`connect to ${port}: closed before connecting`));
    });
  });
  return { sock, reader };
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

/** Resolves when the socket has closed; throws after `timeoutMs`. */
export function closed(sock: net.Socket, timeoutMs = WAIT_MS): Promise<void> {
  if (sock.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---- a port that never accepts -----------------------------------------------------------

/**
 * A listening port whose accept queue is full, so new connects hang (Linux drops SYNs
 * to a full queue): a child node process listens with backlog 1 and blocks its event
 * loop; two connections fill the queue. For connect timeouts without leaving loopback.
 * The child is killed by pid after the test.
 */
export async function blackholePort(t: TestContext): Promise<number> {
  const code = `
    const net = require('node:net');
    const s = net.createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(String(s.address().port) + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000));
    });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => killChild(child));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('blackhole listener did not start')), WAIT_MS);
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(Number(d.toString().trim()));
    });
  });
  // Fill the accept queue (backlog 1 holds up to 2 on Linux); extra SYNs are dropped.
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port, host: LOOPBACK });
    s.on('error', () => {});
    t.after(() => s.destroy());
  }
  await new Promise((r) => setTimeout(r, 100));
  return port;
}

/** SIGTERM, then SIGKILL after 2 s; resolves once the child has exited. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

// ---- real peers ------------------------------------------------------------------------------

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin', '/sbin', '/bin'];

/** The absolute path of `bin` on PATH or in the sbin directories, or undefined. */
export function findBinary(bin: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SBIN]) {
    if (existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

/** A temp directory (mkdtemp), removed after the test. */
export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitListening(port: number, child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: LOOPBACK });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: nothing listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts HAProxy (`haproxy -f CFG -db`) with `config` written into a temp dir, waits
 * until `waitPorts` accept connections, and stops it by pid after the test. Its output
 * is collected for error messages.
 */
export async function startHaproxy(t: TestContext, bin: string, config: string, waitPorts: number[]): Promise<{ child: ChildProcess; output: () => string }> {
  const dir = tempDir(t, 'fulcrum-haproxy-');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, config);
  const child = spawn(bin, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.after(() => killChild(child));
  try {
    for (const p of waitPorts) await waitListening(p, child, 'haproxy');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- haproxy output:\n${out}\n--- config:\n${config}`);
  }
  return { child, output: () => out };
}

/** A free port on 127.0.0.1, outside the kernel's ephemeral range (see helpers/ports.ts). */
export { freePort } from '../helpers/ports.js';

/**
 * A self-signed certificate and key for `cn` (with `sans` as DNS names) made by
 * `openssl req -x509` in a temp dir; undefined when openssl is missing or fails.
 */
export function makeCert(t: TestContext, bin: string, cn: string, sans: string[]): { key: Buffer; cert: Buffer } | undefined {
  const dir = tempDir(t, 'fulcrum-cert-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const r = spawnSync(
    bin,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`, '-keyout', key, '-out', cert],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 },
  );
  if (r.status !== 0 || !existsSync(key) || !existsSync(cert)) return undefined;
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

/**
 * The tcp listener's two relay engines: the native relay (native/relay.c, the default)
 * and the JavaScript relay over Node's handles (relay.ts, FULCRUM_TCP_RELAY=js).
 */
export const RELAYS = ['native', 'js'] as const;
export type RelayKind = (typeof RELAYS)[number];

/**
 * Runs the tests `body` declares once per relay engine, each set in a describe block
 * with FULCRUM_TCP_RELAY set for it (listeners read it when they start).
 */
export function forEachRelay(body: (relay: RelayKind) => void): void {
  for (const relay of RELAYS) {
    describe(`${relay} relay`, () => {
      const saved = process.env.FULCRUM_TCP_RELAY;
      before(() => {
        if (relay === 'js') process.env.FULCRUM_TCP_RELAY = 'js';
        else delete process.env.FULCRUM_TCP_RELAY;
      });
      after(() => {
        if (saved === undefined) delete process.env.FULCRUM_TCP_RELAY;
        else process.env.FULCRUM_TCP_RELAY = saved;
      });
      body(relay);
    });
  }
}

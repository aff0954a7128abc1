import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { killChild } from './spawn.js';
import { WAIT_MS } from './wait.js';

/** The only address the tests listen on and connect to (besides test namespaces). */
export const LOOPBACK = '127.0.0.1';

/**
 * Ports for tests that must name a port before something binds it (a server restarted on
 * the same port, a listener kept across reloads).
 *
 * A port the kernel picked with bind(0) comes from its ephemeral range, and any connect()
 * on the machine may take it as a source port between our check and the bind: the bind
 * then fails with EADDRINUSE, or a connect to the dead server's port connects to itself.
 * Ports below the ephemeral range are never handed out by the kernel, so one that is free
 * now stays free until somebody binds it on purpose. Each port is given out once per
 * process.
 */
const given = new Set<number>();
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (ip_local_port_range), 32768 if unknown. */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32768;
  } catch {
    return 32768;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that is free now and below the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  for (let i = 0; i < 200; i++) {
    const port = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (given.has(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${LOWEST} and ${top}`);
}

/** A port on 127.0.0.1 that nothing listens on (a TCP or UDP socket bound, read, closed). */
export async function closedPort(proto: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (proto === 'udp') {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, LOOPBACK, resolve));
    const port = sock.address().port;
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    return port;
  }
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, LOOPBACK, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** The port a server listens on. */
export function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
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

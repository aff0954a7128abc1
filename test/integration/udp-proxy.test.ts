/**
 * `mode: udp` listeners over real sockets on 127.0.0.1 (port 0): echo servers that
 * answer with their name, clients that are plain dgram sockets, dig as a real DNS
 * client in per-packet mode, and the CLI's listening line. Every wait is bounded and
 * every socket is closed in t.after().
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { Server } from '../../src/backend/server.js';
import type { UdpFrontend } from '../../src/proxy/udp/frontend.js';
import { startProxy, type RunningProxy } from '../helpers/proxies.js';
import { WAIT_MS, waitFor } from '../helpers/wait.js';
import { spawnCli, missing } from '../helpers/spawn.js';
import { closedPort, LOOPBACK } from '../helpers/ports.js';
import { serve } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';

const run = promisify(execFile);
const DIG = missing('dig', 'Debian package dnsutils');

// ---- peers -----------------------------------------------------------------------

interface Echo {
  name: string;
  port: number;
  /** Every datagram received: its size and the sender's "address:port". */
  seen: Array<{ size: number; from: string }>;
  /** Close the socket (the port then answers ICMP port unreachable). */
  close(): Promise<void>;
}

/** A UDP server answering every datagram with "NAME|PAYLOAD" (after `delayMs`). */
async function echo(t: TestContext, name: string, opts: { delayMs?: number; family?: 'udp4' | 'udp6' } = {}): Promise<Echo> {
  const sock = dgram.createSocket(opts.family ?? 'udp4');
  const e: Echo = {
    name,
    port: 0,
    seen: [],
    close: () => new Promise((resolve) => (closed ? resolve() : ((closed = true), sock.close(() => resolve())))),
  };
  let closed = false;
  sock.on('message', (msg, from) => {
    e.seen.push({ size: msg.length, from: `${from.address}:${from.port}` });
    const reply = Buffer.concat([Buffer.from(`${name}|`), msg]);
    const send = () => {
      if (!closed) sock.send(reply, from.port, from.address);
    };
    if (opts.delayMs) setTimeout(send, opts.delayMs);
    else send();
  });
  await new Promise<void>((resolve) => sock.bind(0, opts.family === 'udp6' ? '::1' : LOOPBACK, resolve));
  e.port = sock.address().port;
  t.after(() => e.close());
  return e;
}


interface Reply {
  text: string;
  /** Who sent it: "NAME" part of an echo reply. */
  server: string;
  from: dgram.RemoteInfo;
}

/** A client socket with an inbox. */
class Client {
  private readonly inbox: Reply[] = [];
  private waiter: ((r: Reply) => void) | null = null;
  constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg, from) => {
      const text = msg.toString();
      const r = { text, server: text.split('|')[0]!, from };
      if (this.waiter !== null) {
        const w = this.waiter;
        this.waiter = null;
        w(r);
      } else this.inbox.push(r);
    });
  }

  static async open(t: TestContext, family: 'udp4' | 'udp6' = 'udp4'): Promise<Client> {
    const sock = dgram.createSocket(family);
    await new Promise<void>((resolve) => sock.bind(0, family === 'udp6' ? '::1' : LOOPBACK, resolve));
    t.after(() => new Promise<void>((resolve) => sock.close(() => resolve())));
    return new Client(sock);
  }

  get port(): number {
    return this.sock.address().port;
  }

  send(port: number, payload: string | Buffer, host = LOOPBACK): void {
    this.sock.send(typeof payload === 'string' ? Buffer.from(payload) : payload, port, host);
  }

  /** The next reply, or null after `ms`. */
  next(ms = WAIT_MS): Promise<Reply | null> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, ms);
      this.waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }

  /** Sends and waits for the reply; fails the test when none comes within `ms`. */
  async ask(port: number, payload: string, ms = WAIT_MS): Promise<Reply> {
    this.send(port, payload);
    const r = await this.next(ms);
    assert.ok(r !== null, `no reply to ${payload} within ${ms} ms`);
    return r;
  }
}

async function clients(t: TestContext, n: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: n }, () => Client.open(t)));
}


// ---- the balancer ----------------------------------------------------------------

function udpYaml(
  servers: Array<{ name: string; port: number; extra?: string }>,
  opts: { udp?: string; balance?: string; poolLines?: string[]; bind?: string } = {},
): string {
  return [
    'listeners:',
    '  - name: u',
    `    bind: "${opts.bind ?? '127.0.0.1:0'}"`,
    '    mode: udp',
    '    routes: [{ pool: web }]',
    ...(opts.udp ? [`    udp: { ${opts.udp} }`] : []),
    'pools:',
    '  web:',
    `    balance: ${opts.balance ?? 'round-robin'}`,
    '    servers:',
    ...servers.map((s) => `      - { name: ${s.name}, address: "127.0.0.1:${s.port}"${s.extra ? `, ${s.extra}` : ''} }`),
    ...(opts.poolLines ?? []),
    '',
  ].join('\n');
}

interface Udp {
  proxy: RunningProxy;
  port: number;
  fe: UdpFrontend;
  server(name: string): Server;
}

async function startUdp(t: TestContext, yaml: string): Promise<Udp> {
  const proxy = await startProxy(yaml);
  t.after(() => proxy.stop());
  const fe = proxy.instance.listeners[0] as unknown as UdpFrontend;
  const pool = proxy.instance.pools.get('web')!;
  return { proxy, port: proxy.port, fe, server: (name) => pool.servers.find((s) => s.name === name)! };
}

const count = (names: string[]) => names.reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());

// ---- session mode ----------------------------------------------------------------

test('session mode: new clients spread round robin, each reply comes from the listener address and port', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }]));
  const got: string[] = [];
  for (const c of await clients(t, 4)) {
    const r = await c.ask(u.port, 'hello');
    assert.equal(r.from.address, LOOPBACK);
    assert.equal(r.from.port, u.port, 'the reply comes from the listener port, not the upstream socket');
    assert.equal(r.text, `${r.server}|hello`);
    got.push(r.server);
  }
  assert.deepEqual(got, ['S1', 'S2', 'S1', 'S2']);
  assert.equal(u.fe.sessions, 4);
  assert.equal(u.fe.stats.sessionsOpened, 4);
  assert.equal(u.fe.stats.relayed, 4);
});

test('session mode: one client sticks to its server, through one upstream socket', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }]));
  const [c] = await clients(t, 1);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) got.push((await c!.ask(u.port, `m${i}`)).server);
  assert.deepEqual(new Set(got).size, 1, `one server for the session: ${got.join(' ')}`);
  const served = got[0] === 'S1' ? s1 : s2;
  assert.equal(served.seen.length, 6);
  assert.equal(new Set(served.seen.map((s) => s.from)).size, 1, 'one upstream source port per session');
  assert.equal(u.fe.sessions, 1);
  assert.equal(u.server(got[0]!).active, 1, 'a live session counts as one active connection on its server');
});

test('session mode: an idle session expires (server released), and the next datagram picks again', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }], { udp: 'session_idle: 200ms' }));
  const [c] = await clients(t, 1);
  assert.equal((await c!.ask(u.port, 'a')).server, 'S1');
  assert.equal((await c!.ask(u.port, 'b')).server, 'S1');
  assert.equal(u.server('S1').active, 1);
  const quietFrom = Date.now();
  await waitFor(() => u.fe.sessions === 0, 2000, 'the session to expire');
  assert.ok(Date.now() - quietFrom >= 150, 'not before its idle time');
  assert.equal(u.server('S1').active, 0);
  assert.equal(u.fe.stats.sessionsClosed, 1);
  assert.equal((await c!.ask(u.port, 'c')).server, 'S2', 'a new session, and round robin moved on');
  assert.equal(u.fe.stats.sessionsOpened, 2);
});

test('session mode: traffic either way keeps a session alive', async (t) => {
  const s1 = await echo(t, 'S1');
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }], { udp: 'session_idle: 300ms' }));
  const [c] = await clients(t, 1);
  for (let i = 0; i < 8; i++) {
    await c!.ask(u.port, `k${i}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(u.fe.stats.sessionsOpened, 1, 'datagrams every 100 ms keep one 300 ms session');
});

test('max_sessions: a new client beyond the limit is dropped and counted; existing sessions keep working; room returns on expiry', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  // the idle time is well above the 300 ms the third client waits, or the first session could expire meanwhile
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }], { udp: 'max_sessions: 2, session_idle: 1s' }));
  const [a, b, c] = await clients(t, 3);
  await a!.ask(u.port, 'a');
  await b!.ask(u.port, 'b');
  c!.send(u.port, 'c');
  assert.equal(await c!.next(300), null, 'the third client gets nothing');
  assert.equal(u.fe.stats.dropped.sessionLimit, 1);
  assert.equal(u.fe.sessions, 2);
  assert.ok(await a!.ask(u.port, 'a again'), 'an existing session still works at the limit');
  await waitFor(() => u.fe.sessions === 0, 5000, 'both sessions to expire');
  assert.ok(await c!.ask(u.port, 'c again'));
  assert.equal(u.fe.stats.dropped.sessionLimit, 1);
});

test('least-conn sees sessions as connections; max_conn limits sessions per server', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(
    t,
    udpYaml(
      [
        { name: 'S1', port: s1.port, extra: 'max_conn: 2' },
        { name: 'S2', port: s2.port, extra: 'max_conn: 2' },
      ],
      { balance: 'least-conn' },
    ),
  );
  const cs = await clients(t, 5);
  const got: string[] = [];
  for (const c of cs.slice(0, 4)) got.push((await c.ask(u.port, 'x')).server);
  assert.deepEqual(count(got), new Map([['S1', 2], ['S2', 2]]));
  assert.equal(u.server('S1').active, 2);
  assert.equal(u.server('S2').active, 2);
  cs[4]!.send(u.port, 'x');
  assert.equal(await cs[4]!.next(300), null, 'every server is at max_conn: the fifth client is dropped');
  assert.equal(u.fe.stats.dropped.noServer, 1);
  // a client's own session is not limited by max_conn
  assert.ok(await cs[0]!.ask(u.port, 'still here'));
});

test('maglev hashes the source IP: every client port on 127.0.0.1 reaches the same server', async (t) => {
  const [s1, s2, s3] = [await echo(t, 'S1'), await echo(t, 'S2'), await echo(t, 'S3')];
  const u = await startUdp(
    t,
    udpYaml(
      [
        { name: 'S1', port: s1.port },
        { name: 'S2', port: s2.port },
        { name: 'S3', port: s3.port },
      ],
      { balance: 'maglev', udp: 'per_packet: true' },
    ),
  );
  const got: string[] = [];
  for (const c of await clients(t, 3)) for (let i = 0; i < 3; i++) got.push((await c.ask(u.port, 'h')).server);
  assert.equal(new Set(got).size, 1, got.join(' '));
});

test('a server leaving the usable set (health down) moves its sessions at their next datagram', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }]));
  const [c] = await clients(t, 1);
  assert.equal((await c!.ask(u.port, 'a')).server, 'S1');
  u.proxy.instance.pools.get('web')!.setHealthy(u.server('S1'), false, 'test');
  assert.equal((await c!.ask(u.port, 'b')).server, 'S2');
  assert.equal(u.server('S1').active, 0);
  assert.equal(u.server('S2').active, 1);
  assert.equal(u.fe.sessions, 1, 'the same session, re-attached');
});

test('real health checks: a server whose TCP check port closes loses its sessions to the other', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const checks = await Promise.all(
    [0, 1].map(async () => {
      return serve(net.createServer((sock) => sock.destroy()), { t });
    }),
  );
  const checkPort = (i: number) => checks[i]!.port;
  const u = await startUdp(
    t,
    udpYaml(
      [
        { name: 'S1', port: s1.port, extra: `check_port: ${checkPort(0)}` },
        { name: 'S2', port: s2.port, extra: `check_port: ${checkPort(1)}` },
      ],
      { poolLines: ['    health: { type: tcp, interval: 100ms, timeout: 100ms, jitter: 0, rise: 1, fall: 1 }'] },
    ),
  );
  const [c] = await clients(t, 1);
  assert.equal((await c!.ask(u.port, 'a')).server, 'S1');
  checks[0]!.close();
  await waitFor(() => !u.server('S1').healthy, 3000, 'S1 to be marked down');
  assert.equal((await c!.ask(u.port, 'b')).server, 'S2');
});

test('a closed server port (ICMP unreachable) does not crash the balancer: the session re-picks, outlier detection ejects it', async (t) => {
  const dead = await closedPort('udp');
  const s2 = await echo(t, 'S2');
  const u = await startUdp(
    t,
    udpYaml([{ name: 'S1', port: dead }, { name: 'S2', port: s2.port }], {
      poolLines: ['    outlier: { consecutive_errors: 1, base_ejection: 10s, max_ejection_percent: 50 }'],
    }),
  );
  const [c] = await clients(t, 1);
  // The first datagram goes to S1 (round robin) and is lost; the client retransmits, as UDP clients do.
  let reply = null;
  for (let i = 0; i < 10 && reply === null; i++) {
    c!.send(u.port, 'ping');
    reply = await c!.next(200);
  }
  assert.ok(reply !== null, 'a retransmission reached S2');
  assert.equal(reply.server, 'S2');
  assert.ok(u.fe.stats.upstreamErrors >= 1, 'the ICMP error was seen');
  assert.ok(u.server('S1').ejectedUntil > Date.now(), 'the connect error ejected S1');
  assert.equal(u.server('S1').active, 0);
  // New clients are not sent to the ejected server.
  for (const n of await clients(t, 4)) assert.equal((await n.ask(u.port, 'x')).server, 'S2');
});

test('without passive health, a failed session still avoids its failed server on re-pick', async (t) => {
  const dead = await closedPort('udp');
  const s2 = await echo(t, 'S2');
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: dead }, { name: 'S2', port: s2.port }]));
  const [c] = await clients(t, 1);
  c!.send(u.port, 'one');
  assert.equal(await c!.next(200), null);
  await waitFor(() => u.fe.stats.upstreamErrors > 0, 2000, 'the ICMP error');
  assert.equal((await c!.ask(u.port, 'two')).server, 'S2');
});

test('empty datagrams are relayed both ways', async (t) => {
  const s1 = await echo(t, 'S1');
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }]));
  const [c] = await clients(t, 1);
  c!.send(u.port, Buffer.alloc(0));
  const r = await c!.next();
  assert.equal(r?.text, 'S1|');
  assert.equal(s1.seen[0]?.size, 0);
});

test('large datagrams pass up to the family limit; larger ones are dropped and counted (IPv6 client, IPv4 server)', async (t) => {
  const probe = dgram.createSocket('udp6');
  const v6 = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind(0, '::1', () => resolve(true));
  });
  probe.close();
  if (!v6) {
    t.skip('no IPv6 loopback (::1) here');
    return;
  }
  const s1 = await echo(t, 'S1');
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }], { bind: '[::1]:0' }));
  assert.equal(u.fe.address().family, 'IPv6');
  const c = await Client.open(t, 'udp6');
  c.send(u.port, Buffer.alloc(60_000, 0x61), '::1');
  const big = await c.next();
  assert.equal(big?.text.length, 60_003, 'a 60,000 byte datagram goes through');
  assert.equal(big?.from.address, '::1');
  c.send(u.port, Buffer.alloc(65_520, 0x62), '::1');
  assert.equal(await c.next(300), null);
  assert.equal(u.fe.stats.dropped.tooBig, 1, '65,520 bytes cannot go to an IPv4 server');
  c.send(u.port, 'small', '::1');
  assert.equal((await c.next())?.text, 'S1|small');
});

// ---- per-packet mode -------------------------------------------------------------

test('per-packet mode: one client\'s datagrams spread over the servers and every reply comes back', async (t) => {
  const [s1, s2] = [await echo(t, 'S1'), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }], { udp: 'per_packet: true, session_idle: 1s' }));
  const [c] = await clients(t, 1);
  const got: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await c!.ask(u.port, `q${i}`);
    assert.equal(r.text, `${r.server}|q${i}`);
    assert.equal(r.from.port, u.port);
    got.push(r.server);
  }
  assert.deepEqual(got, ['S1', 'S2', 'S1', 'S2', 'S1', 'S2']);
  assert.equal(u.fe.sessions, 2, 'one upstream socket per (client, server) pair');
  await waitFor(() => u.fe.sessions === 0, 3000, 'the pairs to expire');
  assert.equal(u.server('S1').active + u.server('S2').active, 0);
});

test('per-packet mode: datagrams sent back to back, replies routed to the right clients', async (t) => {
  const [s1, s2] = [await echo(t, 'S1', { delayMs: 20 }), await echo(t, 'S2')];
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }, { name: 'S2', port: s2.port }], { udp: 'per_packet: true' }));
  const cs = await clients(t, 3);
  for (let i = 0; i < 4; i++) for (const [n, c] of cs.entries()) c.send(u.port, `c${n}-${i}`);
  for (const [n, c] of cs.entries()) {
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) texts.push((await c.next())?.text.split('|')[1] ?? 'none');
    assert.deepEqual(texts.sort(), [0, 1, 2, 3].map((i) => `c${n}-${i}`));
  }
  assert.equal(u.fe.stats.relayed, 12);
});

test('per-packet mode: a dead server loses one datagram, is ejected, then gets nothing', async (t) => {
  const dead = await closedPort('udp');
  const s2 = await echo(t, 'S2');
  const u = await startUdp(
    t,
    udpYaml([{ name: 'S1', port: dead }, { name: 'S2', port: s2.port }], {
      udp: 'per_packet: true',
      poolLines: ['    outlier: { consecutive_errors: 1, base_ejection: 10s, max_ejection_percent: 50 }'],
    }),
  );
  const [c] = await clients(t, 1);
  c!.send(u.port, 'lost');
  assert.equal(await c!.next(200), null);
  await waitFor(() => u.server('S1').ejectedUntil > 0, 2000, 'S1 ejected');
  for (let i = 0; i < 4; i++) assert.equal((await c!.ask(u.port, `q${i}`)).server, 'S2');
});

test('per-packet mode against dig: queries alternate between two DNS servers', { skip: DIG }, async (t) => {
  const dns = async (ip: string) => {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (q, from) => {
      // header + question, answered with one A record by a pointer to the question name
      let i = 12;
      while (i < q.length && q[i] !== 0) i += q[i]! + 1;
      const question = q.subarray(12, i + 5);
      const head = Buffer.alloc(12);
      q.copy(head, 0, 0, 2);
      head.writeUInt16BE(0x8000 | 0x0400 | (q.readUInt16BE(2) & 0x0100) | 0x0080, 2);
      head.writeUInt16BE(1, 4);
      head.writeUInt16BE(1, 6);
      const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ...ip.split('.').map(Number)]);
      sock.send(Buffer.concat([head, question, answer]), from.port, from.address);
    });
    await new Promise<void>((resolve) => sock.bind(0, LOOPBACK, resolve));
    t.after(() => new Promise<void>((resolve) => sock.close(() => resolve())));
    return sock.address().port;
  };
  const [p1, p2] = [await dns('192.0.2.1'), await dns('192.0.2.2')];
  const u = await startUdp(t, udpYaml([{ name: 'D1', port: p1 }, { name: 'D2', port: p2 }], { udp: 'per_packet: true, session_idle: 2s' }));
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(u.port), '+short', '+tries=1', '+time=2', 'www.example.com', 'A'], { timeout: 5000 });
    answers.push(stdout.trim());
  }
  assert.deepEqual(answers, ['192.0.2.1', '192.0.2.2', '192.0.2.1', '192.0.2.2']);
});

// ---- lifecycle -------------------------------------------------------------------

test('stop: replies already on their way are still relayed, then every session ends and servers are released', async (t) => {
  const s1 = await echo(t, 'S1', { delayMs: 40 });
  const u = await startUdp(t, udpYaml([{ name: 'S1', port: s1.port }]));
  const [c] = await clients(t, 1);
  await c!.ask(u.port, 'warm');
  c!.send(u.port, 'late');
  await waitFor(() => s1.seen.length === 2, 2000, 'the datagram to reach S1');
  const stopped = u.fe.stop({ graceMs: 2000 });
  assert.equal((await c!.next(1000))?.text, 'S1|late', 'the reply during the grace time arrives');
  await stopped;
  assert.equal(u.fe.sessions, 0);
  assert.equal(u.server('S1').active, 0);
  c!.send(u.port, 'after');
  assert.equal(await c!.next(200), null);
});

test('start: a port in use is FULCRUM_ERR_LISTEN', async (t) => {
  const taken = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => taken.bind(0, LOOPBACK, resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const s1 = await echo(t, 'S1');
  const yaml = udpYaml([{ name: 'S1', port: s1.port }], { bind: `127.0.0.1:${taken.address().port}` });
  await assert.rejects(startProxy(yaml), { code: 'FULCRUM_ERR_LISTEN' });
});

test('fulcrum run prints udp://HOST:PORT for a udp listener (and http:// for http ones), and relays', async (t) => {
  const s1 = await echo(t, 'S1');
  const dir = tempDir('fulcrum-udp-', t).dir;
  const file = join(dir, 'udp.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - { name: web, bind: "127.0.0.1:0", mode: http, routes: [{ pool: web }] }',
      '  - { name: dgram, bind: "127.0.0.1:0", mode: udp, routes: [{ pool: web }] }',
      'pools:',
      '  web:',
      `    servers: [{ name: S1, address: "127.0.0.1:${s1.port}" }]`,
      '',
    ].join('\n'),
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  assert.equal(cli.listeners[0]?.name, 'web');
  const line = /listening on udp:\/\/127\.0\.0\.1:(\d+) \(listener dgram\)/;
  await waitFor(() => line.test(cli.stderr()), 3000, 'the udp listening line');
  const port = Number(line.exec(cli.stderr())![1]);
  const [c] = await clients(t, 1);
  assert.equal((await c!.ask(port, 'via cli')).text, 'S1|via cli');
});

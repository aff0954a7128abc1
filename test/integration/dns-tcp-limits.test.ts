/**
 * DNS over TCP against hostile clients (RFC 7766 section 6.2): a message must arrive
 * whole within its budget however slowly its bytes trickle in, the connection cap and
 * the per-client limit close the least recently useful connection instead of refusing
 * newcomers, and legitimate queries keep being answered while slow clients try to hold
 * every slot. Attackers connect from 127.0.0.2 (loopback, Linux answers on all of
 * 127/8), legitimate clients from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import type { DnsConfig } from '../../src/config/types.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { decodeMessage, encodeQuery } from '../../src/dns/message.js';
import { DnsServer } from '../../src/dns/server.js';
import { TYPE } from '../../src/dns/wire.js';
import { sleep } from '../helpers/wait.js';

async function server(t: TestContext, over: Partial<DnsConfig>): Promise<{ s: DnsServer; port: number }> {
  const web = new Pool(poolConfig('web', [{ name: 'S1', host: '192.0.2.11' }]));
  const cfg = { ...dnsConfig([{ host: '127.0.0.1', port: 0 }], [zoneConfig('example.com', { pools: [poolName('www.example.com.', 'web')] })]), ...over };
  const s = new DnsServer(cfg, new Map([['web', web]]), { log: () => {} });
  await s.start();
  t.after(() => s.stop());
  return { s, port: s.addresses()[0]!.port };
}

interface Client {
  sock: net.Socket;
  closed: boolean;
  closedAt: number;
}

async function connect(port: number, from: string, t: TestContext): Promise<Client> {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress: from });
  t.after(() => sock.destroy());
  const c: Client = { sock, closed: false, closedAt: 0 };
  sock.on('error', () => {});
  sock.on('close', () => {
    c.closed = true;
    c.closedAt = Date.now();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  return c;
}

function frame(id: number): Buffer {
  const m = encodeQuery({ id, name: 'www.example.com', type: TYPE.A });
  const f = Buffer.alloc(m.length + 2);
  f.writeUInt16BE(m.length);
  m.copy(f, 2);
  return f;
}

/** One query on a new connection from 127.0.0.1: answered within `ms`? */
async function legit(port: number, t: TestContext, ms = 1000): Promise<boolean> {
  let c: Client;
  try {
    c = await connect(port, '127.0.0.1', t);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.sock.destroy();
      resolve(false);
    }, ms);
    let buf = Buffer.alloc(0);
    c.sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        c.sock.destroy();
        resolve(decodeMessage(buf.subarray(2)).answers.length === 1);
      }
    });
    c.sock.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
    c.sock.write(frame(7));
  });
}


async function waitClosed(c: Client, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!c.closed && Date.now() < deadline) await sleep(10);
  return c.closed;
}

test('DNS over TCP: a message trickling in a byte at a time is cut when its budget runs out, not kept alive by each byte', async (t) => {
  const { s, port } = await server(t, { tcpIdleMs: 5000, tcpMessageMs: 400 });
  const c = await connect(port, '127.0.0.2', t);
  const t0 = Date.now();
  c.sock.write(Buffer.from([0xff, 0xff]));
  // a byte every 50 ms would restart any idle timer forever
  while (!c.closed && Date.now() - t0 < 3000) {
    c.sock.write(Buffer.from([0]));
    await sleep(50);
  }
  assert.ok(c.closed, 'still open after 3 s');
  const took = c.closedAt - t0;
  assert.ok(took >= 350 && took < 1500, `closed after ${took} ms (budget 400 ms)`);
  assert.equal(s.tcpConnections()[0]!.slowMessages, 1);
});

test('DNS over TCP: idle time counts from the last answer; pipelined queries on one connection all get answers', async (t) => {
  const { port } = await server(t, { tcpIdleMs: 300, tcpMessageMs: 5000 });
  const c = await connect(port, '127.0.0.1', t);
  let answers = 0;
  let buf = Buffer.alloc(0);
  c.sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      answers++;
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
  });
  for (let i = 0; i < 5; i++) {
    c.sock.write(frame(i + 1));
    await sleep(150); // each under the idle time: the connection lives on
  }
  assert.equal(c.closed, false);
  assert.ok(await waitClosed(c, 2000), 'closed once idle');
  assert.equal(answers, 5);
});

test('DNS over TCP: at the connection cap a newcomer closes the least recently useful connection; the per-client limit does the same within one client', async (t) => {
  const { s, port } = await server(t, { tcpIdleMs: 10_000, tcpMessageMs: 10_000, tcpMaxConnections: 4, tcpMaxPerClient: 3 });
  const a = [await connect(port, '127.0.0.2', t), await connect(port, '127.0.0.2', t), await connect(port, '127.0.0.2', t)];
  await sleep(50);
  // a fourth from the same client: its own oldest goes
  const a4 = await connect(port, '127.0.0.2', t);
  assert.ok(await waitClosed(a[0]!, 1000), "the client's oldest connection was closed");
  assert.equal(a[1]!.closed || a[2]!.closed || a4.closed, false);
  // another client fills the cap, then one more: the least recently useful overall goes
  const b1 = await connect(port, '127.0.0.3', t);
  await sleep(50);
  assert.equal(await legit(port, t), true, 'a legitimate query at the cap is answered');
  assert.ok(await waitClosed(a[1]!, 1000), 'the oldest idle connection made room');
  assert.equal(b1.closed, false);
  assert.equal(s.tcpConnections()[0]!.evicted, 2);
});

test('DNS over TCP: slow clients holding every slot do not starve legitimate ones (95% answered within 1 s)', async (t) => {
  const { s, port } = await server(t, { tcpIdleMs: 10_000, tcpMessageMs: 2000, tcpMaxConnections: 64, tcpMaxPerClient: 1000 });
  const attackers: Client[] = [];
  let stop = false;
  t.after(() => {
    stop = true;
  });
  // 80 connections that start a 65535-byte message and then send a byte every 200 ms
  for (let i = 0; i < 80; i++) {
    const c = await connect(port, '127.0.0.2', t).catch(() => null);
    if (c === null) continue;
    c.sock.write(Buffer.from([0xff, 0xff]));
    attackers.push(c);
  }
  const trickle = (async () => {
    const end = Date.now() + 4000;
    while (!stop && Date.now() < end) {
      for (const c of attackers) if (!c.closed) c.sock.write(Buffer.from([0]));
      // and reconnect the ones that were cut, to keep every slot busy
      for (let i = 0; i < attackers.length; i++) {
        if (!attackers[i]!.closed) continue;
        const c = await connect(port, '127.0.0.2', t).catch(() => null);
        if (c === null) continue;
        c.sock.write(Buffer.from([0xff, 0xff]));
        attackers[i] = c;
      }
      await sleep(200);
    }
  })();
  let ok = 0;
  const tries = 40;
  for (let i = 0; i < tries; i++) {
    if (await legit(port, t)) ok++;
    await sleep(50);
  }
  stop = true;
  await trickle;
  assert.ok(ok >= tries * 0.95, `${ok} of ${tries} legitimate queries answered within 1 s`);
  assert.ok(s.tcpConnections()[0]!.open <= 64);
});

/**
 * The UDP listener's bookkeeping without sockets: the bounded session table and its
 * expiry registration, session keys, the "is the session's server still usable" check,
 * server choice per client (source-IP hashing, avoiding a failed server) and which
 * upstream errors count against a server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import type { Expirable } from '../../src/core/sweeper.js';
import { poolConfig } from '../../src/dns/build-config.js';
import { Chooser, clientIp, clientKey, flowKey, isServerFault, stillUsable } from '../../src/proxy/udp/choice.js';
import { SessionTable, type TableEntry } from '../../src/proxy/udp/session-table.js';
import { MAX_PAYLOAD_V4, MAX_PAYLOAD_V6, maxPayloadTo } from '../../src/proxy/udp/session.js';

/** Stands in for the Sweeper: remembers what is registered; the test plays the clock. */
class FakeRegistry {
  readonly items = new Set<Expirable>();
  add(item: Expirable): void {
    this.items.add(item);
  }
  delete(item: Expirable): void {
    this.items.delete(item);
  }
  /** What Sweeper.tick does. */
  tick(now: number): void {
    for (const item of this.items) {
      if (item.deadline !== 0 && item.deadline <= now) {
        item.deadline = 0;
        item.expire(now);
      }
    }
  }
}

class Entry implements TableEntry {
  deadline = 0;
  sweepSlot = -1;
  expired = 0;
  constructor(
    readonly key: string,
    private readonly table: () => SessionTable<Entry>,
  ) {}
  expire(): void {
    this.expired++;
    this.table().remove(this);
  }
}

function tableOf(max: number, idleMs: number) {
  const reg = new FakeRegistry();
  const table: SessionTable<Entry> = new SessionTable<Entry>(max, idleMs, reg);
  const entry = (key: string) => new Entry(key, () => table);
  return { reg, table, entry };
}

describe('SessionTable', () => {
  test('add sets the deadline and registers for expiry; get finds by key', () => {
    const { reg, table, entry } = tableOf(10, 1000);
    const a = entry('a');
    assert.equal(table.add(a, 5000), true);
    assert.equal(a.deadline, 6000);
    assert.equal(table.lastActive(a), 5000);
    assert.ok(reg.items.has(a));
    assert.equal(table.get('a'), a);
    assert.equal(table.get('b'), undefined);
    assert.equal(table.size, 1);
  });

  test('full at maxSessions: a new entry is refused and counted, nothing is evicted', () => {
    const { reg, table, entry } = tableOf(2, 1000);
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    assert.equal(table.add(a, 0), true);
    assert.equal(table.full, false);
    assert.equal(table.add(b, 0), true);
    assert.equal(table.full, true);
    assert.equal(table.add(c, 0), false);
    assert.equal(table.refused, 1);
    assert.deepEqual([...table.values()].map((e) => e.key), ['a', 'b']);
    assert.equal(reg.items.has(c), false);
    // room comes back when one leaves
    assert.equal(table.remove(a), true);
    assert.equal(table.add(c, 0), true);
    assert.equal(table.refused, 1);
  });

  test('maxSessions 0 means no limit', () => {
    const { table, entry } = tableOf(0, 1000);
    for (let i = 0; i < 100; i++) assert.equal(table.add(entry(`k${i}`), 0), true);
    assert.equal(table.full, false);
  });

  test('touch moves the idle deadline: only an entry idle for idleMs expires', () => {
    const { reg, table, entry } = tableOf(10, 1000);
    const [a, b] = [entry('a'), entry('b')];
    table.add(a, 0);
    table.add(b, 0);
    table.touch(a, 900);
    reg.tick(1000);
    assert.equal(b.expired, 1);
    assert.equal(a.expired, 0);
    assert.equal(table.get('b'), undefined);
    assert.equal(reg.items.has(b), false);
    reg.tick(1899);
    assert.equal(a.expired, 0);
    reg.tick(1900);
    assert.equal(a.expired, 1);
    assert.equal(table.size, 0);
    assert.equal(table.lastActive(a), 0);
  });

  test('remove only forgets the entry that is under its key (a replaced entry stays)', () => {
    const { table, entry } = tableOf(10, 1000);
    const old = entry('a');
    table.add(old, 0);
    table.remove(old);
    const fresh = entry('a');
    table.add(fresh, 0);
    assert.equal(table.remove(old), false);
    assert.equal(table.get('a'), fresh);
  });

  test('clear returns every entry and unregisters them', () => {
    const { reg, table, entry } = tableOf(10, 1000);
    for (const k of ['a', 'b', 'c']) table.add(entry(k), 0);
    const all = table.clear();
    assert.deepEqual(all.map((e) => e.key), ['a', 'b', 'c']);
    assert.equal(table.size, 0);
    assert.equal(reg.items.size, 0);
  });
});

describe('keys and addresses', () => {
  test('client keys are unambiguous for IPv4 and IPv6 clients', () => {
    assert.equal(clientKey('192.0.2.1', 53), '192.0.2.1:53');
    assert.equal(clientKey('2001:db8::1', 5353), '2001:db8::1:5353');
    assert.notEqual(clientKey('::1', 1234), clientKey('::1:1', 234));
    const pool = new Pool(poolConfig('p', [{ name: 'a', host: '192.0.2.1' }]));
    assert.equal(flowKey('192.0.2.1:53', pool.servers[0]!), `192.0.2.1:53/${pool.servers[0]!.id}`);
  });

  test('clientIp turns IPv4-mapped addresses into IPv4', () => {
    assert.equal(clientIp('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientIp('2001:db8::7'), '2001:db8::7');
    assert.equal(clientIp('192.0.2.7'), '192.0.2.7');
  });

  test('payload limits by destination family', () => {
    assert.equal(maxPayloadTo('192.0.2.1'), MAX_PAYLOAD_V4);
    assert.equal(maxPayloadTo('::ffff:192.0.2.1'), MAX_PAYLOAD_V4);
    assert.equal(maxPayloadTo('2001:db8::1'), MAX_PAYLOAD_V6);
    assert.equal(MAX_PAYLOAD_V4, 65_507);
    assert.equal(MAX_PAYLOAD_V6, 65_527);
  });

  test('local shortages do not count against a server; unreachable does', () => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', undefined]) assert.equal(isServerFault(code), true, String(code));
    for (const code of ['EMFILE', 'ENFILE', 'ENOBUFS', 'EADDRINUSE']) assert.equal(isServerFault(code), false, code);
  });
});

describe('stillUsable', () => {
  test('true while the server is in pool.usable; false once it is down, and a detached session is never usable', () => {
    const pool = new Pool(poolConfig('p', [{ name: 'a', host: '192.0.2.1' }, { name: 'b', host: '192.0.2.2' }]));
    const [a, b] = pool.servers as [typeof pool.servers[0], typeof pool.servers[0]];
    const session = { server: a, poolVersion: -1 };
    assert.equal(stillUsable(session, pool), true);
    assert.equal(session.poolVersion, pool.version, 'the check is cached by pool version');
    pool.setHealthy(a, false, 'test');
    assert.equal(stillUsable(session, pool), false);
    assert.equal(stillUsable({ server: b, poolVersion: -1 }, pool), true);
    assert.equal(stillUsable({ server: null, poolVersion: pool.version }, pool), false);
    pool.stop();
  });

  test('a session on a backup is moved once a primary is usable again', () => {
    const pool = new Pool(
      poolConfig('p', [
        { name: 'a', host: '192.0.2.1' },
        { name: 'bk', host: '192.0.2.9', backup: true },
      ]),
    );
    const [a, bk] = pool.servers as [typeof pool.servers[0], typeof pool.servers[0]];
    pool.setHealthy(a, false, 'test');
    const session = { server: bk, poolVersion: -1 };
    assert.equal(stillUsable(session, pool), true);
    pool.setHealthy(a, true, 'test');
    assert.equal(stillUsable(session, pool), false);
    pool.stop();
  });
});

describe('Chooser', () => {
  const two = () => new Pool(poolConfig('p', [{ name: 'a', host: '192.0.2.1' }, { name: 'b', host: '192.0.2.2' }]));

  test('round robin alternates; hash stays 0', () => {
    const pool = two();
    const c = new Chooser(pool);
    const got = Array.from({ length: 4 }, () => c.pick('198.51.100.1', null)?.name);
    assert.deepEqual(got, ['a', 'b', 'a', 'b']);
    pool.stop();
  });

  test('avoid: a failed server is not picked while another can take the client; alone, it is still picked', () => {
    const pool = two();
    const c = new Chooser(pool);
    const [a, b] = pool.servers as [typeof pool.servers[0], typeof pool.servers[0]];
    for (let i = 0; i < 4; i++) assert.equal(c.pick('198.51.100.1', a), b);
    pool.setHealthy(b, false, 'test');
    assert.equal(c.pick('198.51.100.1', a), a);
    pool.setHealthy(a, false, 'test');
    assert.equal(c.pick('198.51.100.1', a), undefined);
    pool.stop();
  });

  test('maglev hashes the client IP: every port of a client, and its IPv4-mapped form, reach one server; clients spread', () => {
    const pc = poolConfig(
      'p',
      Array.from({ length: 4 }, (_, i) => ({ name: `s${i}`, host: `192.0.2.${i + 1}` })),
    );
    pc.balance = 'maglev';
    const pool = new Pool(pc);
    const c = new Chooser(pool);
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const ip = `198.51.100.${i + 1}`;
      const first = c.pick(ip, null)!;
      assert.equal(c.pick(ip, null), first);
      assert.equal(c.pick(`::ffff:${ip}`, null), first);
      seen.add(first.name);
    }
    assert.equal(seen.size, 4, 'different clients spread over every server');
    pool.stop();
  });
});

/**
 * Passive health (outlier detection) with a fake clock for `ejectedUntil` and a hook
 * recorder; ejection timers are real but a few tens of milliseconds long, and every
 * wait is bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server } from '../../src/backend/server.js';
import type { OutlierConfig, ServerConfig } from '../../src/config/types.js';
import { OutlierDetector, type OutlierHooks, type RequestOutcome } from '../../src/health/outlier.js';

function servers(n: number): Server[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new Server('web', {
        name: `s${i + 1}`,
        host: '127.0.0.1',
        port: 1000 + i,
        weight: 1,
        backup: false,
        maxConn: 0,
        checkHost: '127.0.0.1',
        checkPort: 1000 + i,
      } as ServerConfig),
  );
}

interface HookEvent {
  kind: 'eject' | 'restore';
  server: string;
  reason: string;
  /** Fake-clock time at the call, and the server's fields then. */
  at: number;
  ejectedUntil: number;
  ejections: number;
}

/** Records hook calls; `next` waits (bounded) for the n-th event. */
class Recorder implements OutlierHooks {
  events: HookEvent[] = [];
  restorable = new Map<Server, boolean>();
  asked = 0;
  private waiters: Array<() => void> = [];
  constructor(private readonly clock: () => number) {}
  eject(server: Server, reason: string): void {
    this.push('eject', server, reason);
  }
  restore(server: Server, reason: string): void {
    this.push('restore', server, reason);
  }
  canRestore(server: Server): boolean {
    this.asked++;
    return this.restorable.get(server) ?? true;
  }
  private push(kind: HookEvent['kind'], s: Server, reason: string): void {
    this.events.push({ kind, server: s.name, reason, at: this.clock(), ejectedUntil: s.ejectedUntil, ejections: s.ejections });
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves when at least `count` events have been recorded; rejects after `ms`. */
  async waitFor(count: number, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.events.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${count} hook events; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

function setup(n: number, cfg: Partial<OutlierConfig> = {}) {
  let now = 1_000_000;
  const clock = () => now;
  const list = servers(n);
  const hooks = new Recorder(clock);
  const full: OutlierConfig = { consecutiveErrors: 3, baseEjectionMs: 40, maxEjectionPercent: 50, unejectOnActivePass: true, ...cfg };
  const d = new OutlierDetector(list, full, hooks, clock);
  return { list, hooks, d, cfg: full, advance: (ms: number) => (now += ms), clock };
}

function feed(d: OutlierDetector, s: Server, outcomes: RequestOutcome[]): void {
  for (const o of outcomes) d.record(s, o);
}

test('outlier: consecutive errors of any kind eject at the threshold; an ok resets the count', (t) => {
  const { list, hooks, d } = setup(2);
  t.after(() => d.stop());
  const [s1] = list as [Server, Server];
  feed(d, s1, ['connect-error', 'reset', 'ok', 'server-error', 'reset']);
  assert.equal(hooks.events.length, 0, 'the ok broke the run');
  assert.equal(s1.ejectedUntil, 0);
  d.record(s1, 'connect-error');
  assert.equal(hooks.events.length, 1);
  const e = hooks.events[0]!;
  assert.equal(e.kind, 'eject');
  assert.equal(e.server, 's1');
  assert.equal(e.ejections, 1);
  assert.equal(e.ejectedUntil, e.at + 40, 'first ejection lasts baseEjectionMs, stamped by the clock');
  assert.match(e.reason, /^3 consecutive errors \(last: connect-error\); ejected for 40 ms \(ejection 1\)$/);
  assert.equal(d.ejectedCount, 1);
});

test('outlier: outcomes while ejected are ignored; the server is restored when its time is up, counting from 0', async (t) => {
  const { list, hooks, d } = setup(2);
  t.after(() => d.stop());
  const s1 = list[0]!;
  feed(d, s1, ['reset', 'reset', 'reset']);
  feed(d, s1, ['reset', 'reset', 'reset', 'ok']); // in flight before the ejection
  assert.equal(hooks.events.length, 1);
  const started = Date.now();
  await hooks.waitFor(2);
  const elapsed = Date.now() - started;
  const r = hooks.events[1]!;
  assert.equal(r.kind, 'restore');
  assert.equal(r.ejectedUntil, 0);
  assert.equal(s1.ejectedUntil, 0);
  assert.match(r.reason, /^ejection of 40 ms over$/);
  assert.ok(elapsed >= 30 && elapsed < 1000, `restored after ${elapsed} ms`);
  assert.equal(d.ejectedCount, 0);
  feed(d, s1, ['reset', 'reset']);
  assert.equal(hooks.events.length, 2, 'the count restarted at 0 after the restore');
  d.record(s1, 'reset');
  assert.equal(hooks.events.length, 3);
});

test('outlier: the n-th ejection lasts n x baseEjectionMs', async (t) => {
  const { list, hooks, d } = setup(2, { baseEjectionMs: 20 });
  t.after(() => d.stop());
  const s1 = list[0]!;
  for (let n = 1; n <= 3; n++) {
    feed(d, s1, ['server-error', 'server-error', 'server-error']);
    const e = hooks.events.at(-1)!;
    assert.equal(e.kind, 'eject');
    assert.equal(e.ejections, n);
    assert.equal(e.ejectedUntil - e.at, n * 20, `ejection ${n}`);
    assert.match(e.reason, new RegExp(`ejected for ${n * 20} ms \\(ejection ${n}\\)`));
    await hooks.waitFor(2 * n);
    assert.equal(hooks.events.at(-1)!.kind, 'restore');
  }
});

test('outlier: the multiplier decays by one per baseEjectionMs spent restored (Envoy)', async (t) => {
  const { list, hooks, d, advance } = setup(2, { baseEjectionMs: 20 });
  t.after(() => d.stop());
  const s1 = list[0]!;
  for (let n = 1; n <= 3; n++) {
    feed(d, s1, ['reset', 'reset', 'reset']);
    await hooks.waitFor(2 * n);
  }
  assert.equal(s1.ejections, 3);
  advance(2 * 20 + 5); // two base periods restored: two ejections forgiven
  feed(d, s1, ['reset', 'reset', 'reset']);
  assert.equal(s1.ejections, 2, '3 - 2 forgiven + 1');
  assert.equal(hooks.events.at(-1)!.ejectedUntil - hooks.events.at(-1)!.at, 40);
  await hooks.waitFor(8);
  advance(10 * 20);
  feed(d, s1, ['reset', 'reset', 'reset']);
  assert.equal(s1.ejections, 1, 'never below a first ejection');
});

const LIMITS: Array<{ servers: number; pct: number; max: number }> = [
  { servers: 2, pct: 50, max: 1 },
  { servers: 4, pct: 50, max: 2 },
  { servers: 3, pct: 50, max: 1 },
  { servers: 10, pct: 30, max: 3 },
  { servers: 2, pct: 10, max: 1 }, // Envoy: one server can always be ejected
  { servers: 1, pct: 50, max: 1 },
  { servers: 4, pct: 100, max: 4 },
  { servers: 4, pct: 0, max: 0 },
];

for (const c of LIMITS) {
  test(`outlier: ${c.servers} servers at ${c.pct}% eject at most ${c.max} at once`, (t) => {
    const { list, d } = setup(c.servers, { baseEjectionMs: 60_000, maxEjectionPercent: c.pct });
    t.after(() => d.stop());
    assert.equal(d.maxEjections, c.max);
    for (const s of list) feed(d, s, ['reset', 'reset', 'reset']);
    assert.equal(d.ejectedCount, c.max);
    assert.equal(list.filter((s) => s.ejectedUntil !== 0).length, c.max);
  });
}

test('outlier: a refused ejection is retried on the next error once another server has returned', async (t) => {
  const { list, hooks, d } = setup(2, { baseEjectionMs: 30 });
  t.after(() => d.stop());
  const [s1, s2] = list as [Server, Server];
  feed(d, s1, ['reset', 'reset', 'reset']);
  feed(d, s2, ['reset', 'reset', 'reset', 'reset']);
  assert.equal(s2.ejectedUntil, 0, 'the limit (1 of 2) refused s2');
  await hooks.waitFor(2); // s1 restored
  assert.deepEqual(hooks.events.map((e) => `${e.kind} ${e.server}`), ['eject s1', 'restore s1']);
  d.record(s2, 'reset');
  assert.notEqual(s2.ejectedUntil, 0);
  assert.match(hooks.events.at(-1)!.reason, /^5 consecutive errors/);
});

test('outlier: canRestore false holds the server, asking again; reconsider() restores at once', async (t) => {
  const { list, hooks, d, advance } = setup(2, { baseEjectionMs: 20 });
  t.after(() => d.stop());
  const s1 = list[0]!;
  hooks.restorable.set(s1, false);
  feed(d, s1, ['reset', 'reset', 'reset']);
  const firstUntil = s1.ejectedUntil;
  // real time: the 20 ms ejection, then re-checks every min(base, 1 s) = 20 ms
  const deadline = Date.now() + 2000;
  while (hooks.asked < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(hooks.asked >= 3, `canRestore asked ${hooks.asked} times`);
  assert.equal(hooks.events.length, 1, 'still only the ejection');
  assert.equal(d.ejectedCount, 1);
  assert.notEqual(s1.ejectedUntil, 0, 'held: still ejected');
  assert.ok(s1.ejectedUntil >= firstUntil);
  d.record(s1, 'ok');
  assert.equal(hooks.events.length, 1, 'outcomes while held are ignored');
  hooks.restorable.set(s1, true);
  advance(1000); // the fake clock is past dueAt
  d.reconsider(s1);
  assert.equal(hooks.events.length, 2);
  assert.equal(hooks.events[1]!.kind, 'restore');
  assert.match(hooks.events[1]!.reason, /^ejection of 20 ms over \(held \d+ ms more until it could be restored\)$/);
  assert.equal(s1.ejectedUntil, 0);
});

test('outlier: reconsider() before the ejection time is up does nothing', (t) => {
  const { list, hooks, d, advance } = setup(2, { baseEjectionMs: 60_000 });
  t.after(() => d.stop());
  const s1 = list[0]!;
  feed(d, s1, ['reset', 'reset', 'reset']);
  advance(59_000);
  d.reconsider(s1);
  assert.equal(hooks.events.length, 1);
  advance(1_000);
  d.reconsider(s1);
  assert.equal(hooks.events.length, 2);
  assert.equal(hooks.asked, 1);
});

test('outlier: unknown servers are ignored; stop() clears the timers and ignores later outcomes', async (t) => {
  const { list, hooks, d } = setup(2, { baseEjectionMs: 20 });
  t.after(() => d.stop());
  const stranger = servers(1)[0]!;
  feed(d, stranger, ['reset', 'reset', 'reset', 'reset']);
  assert.equal(stranger.ejectedUntil, 0);
  const s1 = list[0]!;
  feed(d, s1, ['reset', 'reset', 'reset']);
  d.stop();
  d.stop();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(hooks.events.length, 1, 'no restore after stop');
  assert.notEqual(s1.ejectedUntil, 0, 'fields left as they were');
  feed(d, list[1]!, ['reset', 'reset', 'reset']);
  assert.equal(hooks.events.length, 1);
});

test('outlier: record() on the hot path does not allocate per call', () => {
  const { list, d } = setup(2, { consecutiveErrors: 1_000_000_000 });
  const s1 = list[0]!;
  const outcomes: RequestOutcome[] = ['ok', 'reset', 'server-error', 'connect-error'];
  for (let i = 0; i < 100_000; i++) d.record(s1, outcomes[i & 3]!); // warm up
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) d.record(s1, outcomes[i & 3]!);
  const grown = process.memoryUsage().heapUsed - before;
  // a single small object per call would be >= 16 MB; leave room for unrelated noise
  assert.ok(grown < 4 * 1024 * 1024, `heap grew ${grown} bytes over 1e6 calls`);
  d.stop();
});

test('outlier: a passing active check restores an ejected server at once, unless unejectOnActivePass is off', (t) => {
  for (const uneject of [true, false]) {
    const { list, hooks, d } = setup(2, { baseEjectionMs: 60_000, unejectOnActivePass: uneject });
    t.after(() => d.stop());
    const [s1, s2] = list as [Server, Server];
    d.activeCheckPassed(s1); // not ejected: nothing happens
    assert.equal(hooks.events.length, 0);
    feed(d, s1, ['reset', 'reset', 'reset']);
    assert.equal(d.ejectedCount, 1);
    d.activeCheckPassed(s2); // another server's check changes nothing
    d.activeCheckPassed(s1);
    if (uneject) {
      assert.deepEqual(hooks.events.map((e) => e.kind), ['eject', 'restore']);
      assert.match(hooks.events[1]!.reason, /^an active health check passed during an ejection of 60000 ms$/);
      assert.equal(s1.ejectedUntil, 0);
      assert.equal(d.ejectedCount, 0);
      feed(d, s1, ['reset', 'reset']);
      assert.equal(hooks.events.length, 2, 'its error count starts from 0 again');
    } else {
      assert.deepEqual(hooks.events.map((e) => e.kind), ['eject']);
      assert.ok(s1.ejectedUntil > 0);
    }
  }
});

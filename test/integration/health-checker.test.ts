/**
 * The health checker on real time: against real HTTP servers on 127.0.0.1 that are
 * stopped and restarted (down after `fall` checks, back after `rise`), and with a
 * scripted probe for the schedule itself (jitter bounds, fast interval while changing,
 * the initial spread, one probe in flight, stop()). Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { Server } from '../../src/backend/server.js';
import type { HealthConfig, ServerConfig } from '../../src/config/types.js';
import { HealthChecker } from '../../src/health/checker.js';
import type { Probe, ProbeResult, ProbeTarget } from '../../src/health/probe.js';
import { sleep } from '../helpers/wait.js';
import { LOOPBACK } from '../helpers/ports.js';
import { serve } from '../helpers/backends.js';


function makeServer(name: string, port: number): Server {
  return new Server('web', {
    name,
    host: LOOPBACK,
    port,
    weight: 1,
    backup: false,
    maxConn: 0,
    checkHost: LOOPBACK,
    checkPort: port,
  } as ServerConfig);
}

function healthCfg(over: Partial<HealthConfig> = {}): HealthConfig {
  return {
    type: 'http',
    intervalMs: 100,
    fastIntervalMs: 50,
    jitter: 0.1,
    timeoutMs: 200,
    rise: 2,
    fall: 3,
    initial: 'up',
    http: { method: 'GET', path: '/health', host: null, expectStatus: [[200, 399]], bodyMatch: null },
    ...over,
  };
}

interface Change {
  server: string;
  up: boolean;
  reason: string;
  at: number;
}

/** Collects onChange calls; `waitFor(n)` waits (bounded) until n have arrived. */
class Changes {
  list: Change[] = [];
  private wake: (() => void) | null = null;
  readonly listener = (server: Server, up: boolean, reason: string) => {
    this.list.push({ server: server.name, up, reason, at: performance.now() });
    this.wake?.();
  };
  async waitFor(n: number, ms: number): Promise<number> {
    const started = performance.now();
    while (this.list.length < n) {
      const left = ms - (performance.now() - started);
      if (left <= 0) assert.fail(`waited ${ms} ms for ${n} changes; got ${JSON.stringify(this.list)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return performance.now() - started;
  }
}

/** A node:http server on 127.0.0.1 that can be stopped and started again on the same port. */
async function restartableHttp() {
  const handler: http.RequestListener = (_req, res) => res.end('ok');
  let b = await serve(http.createServer(handler));
  const port = b.port;
  return {
    port: () => port,
    start: async () => {
      b = await serve(http.createServer(handler), { port });
    },
    stop: () => b.close(),
  };
}

/** Counts the Timeout resources created while enabled that are still alive. */
function timerTracker() {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return {
    async live(): Promise<number> {
      // destroy hooks run asynchronously; let them drain
      for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
      return live.size;
    },
    disable: () => hook.disable(),
  };
}

describe('against real HTTP servers', () => {
  test('a stopped server goes down after fall checks, and comes back after rise checks once restarted', async (t) => {
    const backend = await restartableHttp();
    t.after(() => backend.stop());
    const server = makeServer('s1', backend.port());
    const cfg = healthCfg();
    const changes = new Changes();
    const checker = new HealthChecker([{ server, config: cfg }], changes.listener);
    t.after(() => checker.stop());
    assert.equal(checker.state(server)!.up, true, 'initial state from config, before any check');
    checker.start();

    await sleep(350); // a few checks of a healthy server
    assert.equal(changes.list.length, 0, 'the initial state is not reported');
    const st = checker.state(server)!;
    assert.ok(st.checks >= 2, `${st.checks} checks in 350 ms`);
    assert.deepEqual(st.last, { ok: true, detail: 'status 200' });

    await backend.stop();
    const slack = 500;
    const downBound = cfg.fall * cfg.intervalMs * (1 + cfg.jitter) + cfg.timeoutMs + slack;
    const tookDown = await changes.waitFor(1, downBound);
    assert.deepEqual(changes.list.map((c) => [c.up, c.reason]), [[false, '3 checks failed: connect ECONNREFUSED']]);
    assert.ok(tookDown <= downBound, `down after ${tookDown.toFixed(0)} ms`);
    // at least: the first failure can come at once, then two fast waits
    assert.ok(tookDown >= 2 * cfg.fastIntervalMs - 5, `down after only ${tookDown.toFixed(0)} ms`);
    assert.equal(checker.state(server)!.up, false);

    await backend.start();
    const upBound = cfg.rise * cfg.intervalMs * (1 + cfg.jitter) + cfg.timeoutMs + slack;
    const tookUp = await changes.waitFor(2, upBound);
    assert.deepEqual(changes.list[1], { ...changes.list[1], server: 's1', up: true, reason: '2 checks passed (status 200)' });
    assert.ok(tookUp <= upBound, `up after ${tookUp.toFixed(0)} ms`);

    await sleep(300);
    assert.equal(changes.list.length, 2, 'exactly one call per transition');
  });

  test('a server that accepts but never answers goes down on timeouts', async (t) => {
    const silent = await serve(net.createServer((s) => s.resume()), { t });
    const server = makeServer('s1', silent.port);
    const cfg = healthCfg({ timeoutMs: 80, fall: 2 });
    const changes = new Changes();
    const checker = new HealthChecker([{ server, config: cfg }], changes.listener);
    t.after(() => checker.stop());
    checker.start();
    await changes.waitFor(1, cfg.fall * (cfg.intervalMs * (1 + cfg.jitter) + cfg.timeoutMs) + 500);
    assert.deepEqual(changes.list.map((c) => [c.up, c.reason]), [[false, '2 checks failed: timeout after 80 ms (waiting for status line)']]);
  });

  test('initial down: servers come up after rise checks, each reported once; the others are untouched', async (t) => {
    const a = await restartableHttp();
    const b = await restartableHttp();
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const s1 = makeServer('s1', a.port());
    const s2 = makeServer('s2', b.port());
    const other = makeServer('other', 1);
    const cfg = healthCfg({ initial: 'down', type: 'tcp' });
    const changes = new Changes();
    const checker = new HealthChecker([{ server: s1, config: cfg }, { server: s2, config: cfg }], changes.listener);
    t.after(() => checker.stop());
    checker.start();
    await changes.waitFor(2, cfg.intervalMs + cfg.rise * cfg.fastIntervalMs * (1 + cfg.jitter) + 500);
    assert.deepEqual(changes.list.map((c) => `${c.server} ${c.up} ${c.reason}`).sort(), ['s1 true 2 checks passed (connected)', 's2 true 2 checks passed (connected)']);
    assert.equal(checker.state(other), undefined);
    assert.equal(s1.healthy, true, 'the checker never writes to Server');
    await sleep(200);
    assert.equal(changes.list.length, 2);
  });
});

/** A probe that answers from a script (then keeps the last answer), logging call times. */
class ScriptedProbe implements Probe {
  calls: Array<{ at: number; target: ProbeTarget }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly script: boolean[],
    private readonly delayMs = 0,
  ) {}
  async check(target: ProbeTarget): Promise<ProbeResult> {
    const i = this.calls.length;
    this.calls.push({ at: performance.now(), target });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.delayMs > 0) await sleep(this.delayMs);
    this.inFlight--;
    const ok = this.script[Math.min(i, this.script.length - 1)] ?? true;
    return { ok, detail: ok ? 'fine' : 'broken' };
  }
  /** Resolves once `n` calls were made; fails after `ms`. */
  async waitCalls(n: number, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.calls.length < n) {
      if (performance.now() > deadline) assert.fail(`waited ${ms} ms for ${n} probe calls; got ${this.calls.length}`);
      await sleep(5);
    }
  }
  gaps(): number[] {
    return this.calls.slice(1).map((c, i) => c.at - this.calls[i]!.at);
  }
}

describe('schedule (scripted probe)', () => {
  test('the fast interval is used while the state is changing, the normal one otherwise', async (t) => {
    // initial up, fall 3, rise 2: P F F F P P P
    const probe = new ScriptedProbe([true, false, false, false, true, true, true]);
    const cfg = healthCfg({ intervalMs: 150, fastIntervalMs: 30, jitter: 0 });
    const changes = new Changes();
    const server = makeServer('s1', 1);
    const checker = new HealthChecker([{ server, config: cfg }], changes.listener, { probe: () => probe, random: () => 0 });
    t.after(() => checker.stop());
    checker.start();
    await probe.waitCalls(8, 3000);
    await checker.stop();
    // after: P (settled) F (changing) F (changing) F (down, settled) P (changing) P (up) P
    const expected = [150, 30, 30, 150, 30, 150, 150];
    const gaps = probe.gaps().slice(0, expected.length);
    gaps.forEach((g, i) => {
      assert.ok(g >= expected[i]! - 2, `gap ${i}: ${g.toFixed(1)} ms, expected ${expected[i]}`);
      assert.ok(expected[i] === 30 ? g < 100 : g >= 148, `gap ${i}: ${g.toFixed(1)} ms should be the ${expected[i] === 30 ? 'fast' : 'normal'} interval`);
    });
    assert.deepEqual(changes.list.map((c) => [c.up, c.reason]), [
      [false, '3 checks failed: broken'],
      [true, '2 checks passed (fine)'],
    ]);
  });

  test('each wait is interval x (1 + jitter x random()), within bounds', async (t) => {
    const draws = [0.5, 0, 0.99, 0.5, 0.25, 0.75];
    let n = 0;
    const random = () => draws[n++ % draws.length]!;
    const probe = new ScriptedProbe([true]);
    const cfg = healthCfg({ intervalMs: 60, jitter: 0.5 });
    const server = makeServer('s1', 1);
    const checker = new HealthChecker([{ server, config: cfg }], () => {}, { probe: () => probe, random });
    t.after(() => checker.stop());
    const started = performance.now();
    checker.start();
    await probe.waitCalls(6, 3000);
    await checker.stop();
    // draw 0 spreads the first check over one interval; draw i>0 sets wait i
    const first = probe.calls[0]!.at - started;
    assert.ok(first >= 0.5 * 60 - 2 && first < 0.5 * 60 + 50, `first check after ${first.toFixed(1)} ms`);
    probe.gaps().slice(0, 5).forEach((g, i) => {
      const want = 60 * (1 + 0.5 * draws[i + 1]!);
      assert.ok(g >= want - 2 && g < want + 50, `gap ${i}: ${g.toFixed(1)} ms, want ${want}`);
      assert.ok(g <= 60 * 1.5 + 50, 'never beyond interval x (1 + jitter) plus slack');
    });
  });

  test('first checks are spread over one interval, not all at once', async (t) => {
    const draws = [0, 0.5, 0.9];
    let n = 0;
    const probe = new ScriptedProbe([true]);
    const cfg = healthCfg({ intervalMs: 200, jitter: 0 });
    const servers = [makeServer('a', 1), makeServer('b', 2), makeServer('c', 3)];
    const checker = new HealthChecker(
      servers.map((server) => ({ server, config: cfg })),
      () => {},
      { probe: () => probe, random: () => draws[n++] ?? 0 },
    );
    t.after(() => checker.stop());
    const started = performance.now();
    checker.start();
    await probe.waitCalls(3, 2000);
    await checker.stop();
    const firsts = probe.calls.slice(0, 3).map((c) => [c.target.port, c.at - started] as const);
    assert.deepEqual(firsts.map(([port]) => port), [1, 2, 3]);
    [0, 100, 180].forEach((want, i) => {
      const got = firsts[i]![1];
      assert.ok(got >= want - 2 && got < want + 50, `server ${i + 1}: first check after ${got.toFixed(1)} ms, want ${want}`);
    });
  });

  test('one probe in flight per server, even when probes outlast the interval', async (t) => {
    const probe = new ScriptedProbe([true], 60);
    const cfg = healthCfg({ intervalMs: 10, fastIntervalMs: 10, jitter: 0 });
    const servers = [makeServer('a', 1), makeServer('b', 2)];
    const perServer = new Map<number, number>();
    const counting: Probe = {
      check: async (target) => {
        perServer.set(target.port, (perServer.get(target.port) ?? 0) + 1);
        assert.equal(perServer.get(target.port), 1, `two probes in flight for port ${target.port}`);
        try {
          return await probe.check(target);
        } finally {
          perServer.set(target.port, perServer.get(target.port)! - 1);
        }
      },
    };
    const checker = new HealthChecker(servers.map((server) => ({ server, config: cfg })), () => {}, { probe: () => counting });
    t.after(() => checker.stop());
    checker.start();
    await probe.waitCalls(8, 3000);
    await checker.stop();
    assert.equal(probe.maxInFlight, 2, 'both servers in parallel, one each');
  });

  test('stop() clears every timer, waits for the probe in flight, and reports nothing after', async (t) => {
    const timers = timerTracker();
    t.after(() => timers.disable());
    const probe = new ScriptedProbe([false], 80);
    const cfg = healthCfg({ intervalMs: 300, fastIntervalMs: 300, jitter: 0.5, fall: 1 });
    const changes = new Changes();
    const servers = [makeServer('a', 1), makeServer('b', 2), makeServer('c', 3)];
    // a is probed at once; b and c wait 0.9 of an interval
    const draws = [0, 0.9, 0.9];
    let n = 0;
    const checker = new HealthChecker(servers.map((server) => ({ server, config: cfg })), changes.listener, {
      probe: () => probe,
      random: () => draws[n++] ?? 0,
    });
    checker.start();
    await probe.waitCalls(1, 2000);
    await sleep(10); // a's probe in flight, b's and c's timers pending
    assert.equal(probe.inFlight, 1);
    const stopStarted = performance.now();
    await checker.stop();
    const stopTook = performance.now() - stopStarted;
    assert.equal(await timers.live(), 0, 'no timer left alive (pending ones cleared, none armed after the probe)');
    assert.equal(probe.inFlight, 0, 'stop() resolved after the probe in flight ended');
    assert.ok(stopTook >= 50 && stopTook < 80 + 200, `stop took ${stopTook.toFixed(0)} ms`);
    assert.equal(changes.list.length, 0, "the in-flight probe's failure is not reported");
    await sleep(350);
    assert.equal(probe.calls.length, 1, 'no probe after stop()');
    assert.equal(changes.list.length, 0, 'no report after stop()');
    await checker.stop(); // idempotent
    assert.throws(() => checker.start(), /start\(\) after stop\(\)/);
  });

  test('state() reports the latest result and when the state last changed', async (t) => {
    const probe = new ScriptedProbe([false, true]);
    const cfg = healthCfg({ intervalMs: 30, fastIntervalMs: 10, jitter: 0, fall: 1, rise: 3 });
    const server = makeServer('s1', 1);
    const changes = new Changes();
    const checker = new HealthChecker([{ server, config: cfg }], changes.listener, { probe: () => probe });
    t.after(() => checker.stop());
    const before = checker.state(server)!;
    assert.deepEqual({ ...before, since: 0 }, { up: true, changing: false, streak: 0, checks: 0, last: null, lastCheckAt: 0, since: 0, history: [] });
    checker.start();
    await changes.waitFor(1, 1000);
    assert.deepEqual(changes.list.map((c) => c.reason), ['1 check failed: broken']);
    const down = checker.state(server)!;
    assert.equal(down.up, false);
    assert.ok(down.since >= before.since && down.since === down.lastCheckAt);
    await probe.waitCalls(3, 1000);
    await sleep(2);
    const rising = checker.state(server)!;
    assert.equal(rising.up, false);
    assert.equal(rising.changing, true);
    assert.ok(rising.streak >= 1 && rising.streak < 3);
    assert.deepEqual(rising.last, { ok: true, detail: 'fine' });
    // the history: every check, oldest first, with its time and duration
    assert.deepEqual(rising.history.slice(0, 2).map((h) => [h.ok, h.detail]), [
      [false, 'broken'],
      [true, 'fine'],
    ]);
    assert.ok(rising.history.every((h) => h.at > 0 && h.ms >= 0));
  });

  test('checkNow() probes at once, outside the schedule, and counts like any check', async (t) => {
    const probe = new ScriptedProbe([true]);
    const cfg = healthCfg({ intervalMs: 60_000, fastIntervalMs: 60_000, jitter: 0 });
    const server = makeServer('s1', 1);
    const checker = new HealthChecker([{ server, config: cfg }], new Changes().listener, { probe: () => probe, random: () => 0.99 });
    t.after(() => checker.stop());
    assert.equal(await checker.checkNow(server), undefined, 'not before start()');
    checker.start();
    assert.deepEqual(await checker.checkNow(server), { ok: true, detail: 'fine' });
    assert.equal(checker.state(server)!.checks, 1);
    assert.equal(checker.state(server)!.history.length, 1);
    assert.equal(probe.calls.length, 1);
  });

  test('a probe that throws or rejects counts as a failed check', async (t) => {
    let calls = 0;
    const bad: Probe = {
      check: () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return Promise.reject(new Error('bang'));
      },
    };
    const cfg = healthCfg({ intervalMs: 20, fastIntervalMs: 10, fall: 2 });
    const changes = new Changes();
    const checker = new HealthChecker([{ server: makeServer('s1', 1), config: cfg }], changes.listener, { probe: () => bad });
    t.after(() => checker.stop());
    checker.start();
    await changes.waitFor(1, 1000);
    assert.deepEqual(changes.list.map((c) => c.reason), ['2 checks failed: probe error: bang']);
  });

  test('a server listed twice is refused; one probe per distinct config', () => {
    const s = makeServer('s1', 1);
    const cfg = healthCfg();
    assert.throws(() => new HealthChecker([{ server: s, config: cfg }, { server: s, config: cfg }], () => {}), /listed twice/);
    let made = 0;
    const factory = () => {
      made++;
      return new ScriptedProbe([true]);
    };
    new HealthChecker([{ server: s, config: cfg }, { server: makeServer('s2', 2), config: cfg }, { server: makeServer('s3', 3), config: healthCfg() }], () => {}, { probe: factory });
    assert.equal(made, 2);
  });
});

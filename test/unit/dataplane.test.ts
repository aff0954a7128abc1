/**
 * The data plane's control logic with a fake driver (no kernel): applies on start, follows
 * pool changes, folds changes during an apply, keeps the previous rules when an apply
 * fails and retries, drains weight-0 servers, cuts a failed NAT server's flows (UDP at
 * once, TCP after the drain time unless it came back) and removes its tables on stop.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { FlowFilter } from '../../src/dataplane/conntrack.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { FakeDriver } from '../../src/dataplane/fake-driver.js';
import { parseLive } from '../../src/dataplane/live.js';
import { normalizeObjects, renderObjects } from '../../src/dataplane/render.js';
import { waitFor } from '../helpers/wait.js';

function config(service: string, servers = '[{name: s1, address: "192.0.2.11:80"}, {name: s2, address: "192.0.2.12:80"}]'): Config {
  const text = `services:\n  - ${service}\npools:\n  web:\n    servers: ${servers}\n`;
  const { config, issues } = loadConfigText(text, 'dp.yaml');
  assert.deepEqual(issues, []);
  return config!;
}

interface Rig {
  dp: Dataplane;
  driver: FakeDriver;
  pool: Pool;
  logs: string[];
  flushes: Array<FlowFilter & { at: number }>;
}

async function rig(t: TestContext, cfg: Config, opts: { drainMs?: number } = {}): Promise<Rig> {
  const pool = new Pool(cfg.pools.get('web')!);
  const driver = new FakeDriver();
  const logs: string[] = [];
  const flushes: Rig['flushes'] = [];
  const services = cfg.services.map((s) => ({ ...s, drainMs: opts.drainMs ?? s.drainMs }));
  const dp = new Dataplane(services, new Map([['web', pool]]), {
    driver,
    skipPreflight: true,
    log: (m) => logs.push(m),
    flusher: { flush: async (f) => (flushes.push({ ...f, at: Date.now() }), 3) },
    pollMs: 20,
    retryMs: 50,
  });
  t.after(async () => {
    await dp.stop();
    pool.stop();
  });
  await dp.start();
  return { dp, driver, pool, logs, flushes };
}


/** Server names the live (fake) NAT table sends flows to. */
async function liveTargets(driver: FakeDriver): Promise<string[]> {
  const live = parseLive(await driver.list());
  return [...new Set(live.flatMap((s) => s.targets.map((t) => t.addr!)))].sort();
}

const NAT = '{name: www, vip: 203.0.113.10, port: 80, mode: nat, pool: web}';

describe('dataplane control', () => {
  it('applies the rendered state on start, and the kernel holds exactly it', async (t) => {
    const { dp, driver } = await rig(t, config(NAT));
    assert.equal(driver.applied.length, 1);
    assert.deepEqual(normalizeObjects(await driver.list()), normalizeObjects(renderObjects(dp.current!)));
    assert.deepEqual(await liveTargets(driver), ['192.0.2.11', '192.0.2.12']);
  });

  it('per-server counters only grow: each apply restarts the tables\' counters, their counts are carried', async (t) => {
    const { dp, driver, pool } = await rig(t, config(NAT));
    const counts = async () => Object.fromEntries((await dp.counters()).map((c) => [`${c.service}/${c.server}`, [c.packets, c.bytes]]));
    assert.deepEqual(await counts(), { 'www/s1': [0, 0], 'www/s2': [0, 0] });
    driver.count('www/s1', 10, 1000);
    driver.count('www/s2', 4, 400);
    assert.deepEqual(await counts(), { 'www/s1': [10, 1000], 'www/s2': [4, 400] });
    const applies = driver.applied.length;
    pool.setHealthy(pool.servers[1]!, false, 'test');
    await waitFor(() => driver.applied.length > applies, 2000, 'an apply without s2');
    driver.count('www/s1', 1, 100);
    assert.deepEqual(await counts(), { 'www/s1': [11, 1100], 'www/s2': [4, 400] }, 's2 keeps its count while out of the table');
    driver.failNext();
    pool.setHealthy(pool.servers[1]!, true, 'test');
    await waitFor(() => driver.attempts > applies + 1, 2000, 'a failed apply');
    assert.deepEqual(await counts(), { 'www/s1': [11, 1100], 'www/s2': [4, 400] }, 'a failed apply carries nothing twice');
  });

  it('follows health: a server down leaves the table at once, and back returns to it', async (t) => {
    const { driver, pool, logs } = await rig(t, config(NAT));
    const s1 = pool.servers[0]!;
    const t0 = Date.now();
    pool.setHealthy(s1, false, 'test');
    await waitFor(() => driver.applied.length === 2, 2000, 'driver.applied.length === 2');
    assert.ok(Date.now() - t0 < 200, `re-rendered after ${Date.now() - t0} ms`);
    assert.deepEqual(await liveTargets(driver), ['192.0.2.12']);
    assert.match(logs.at(-1)!, /rules applied in \d+ ms \(pool web: server s1 down\): www -> s2 1031 of 1031$/);
    pool.setHealthy(s1, true, 'test');
    await waitFor(() => driver.applied.length === 3, 2000, 'driver.applied.length === 3');
    assert.deepEqual(await liveTargets(driver), ['192.0.2.11', '192.0.2.12']);
  });

  it('folds changes that arrive during an apply into one more apply', async (t) => {
    const { driver, pool } = await rig(t, config(NAT.replace('}', '}'), '[{name: s1, address: "192.0.2.11:80"}, {name: s2, address: "192.0.2.12:80"}, {name: s3, address: "192.0.2.13:80"}]'));
    driver.delayMs = 100;
    pool.setHealthy(pool.servers[0]!, false, 'test');
    await waitFor(() => driver.attempts === 2, 2000, 'driver.attempts === 2');
    pool.setHealthy(pool.servers[1]!, false, 'test');
    pool.setHealthy(pool.servers[1]!, true, 'test');
    pool.setHealthy(pool.servers[2]!, false, 'test');
    await waitFor(() => driver.applied.length === 3, 2000, 'driver.applied.length === 3');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(driver.applied.length, 3, 'three changes during one apply make one more apply');
    assert.deepEqual(await liveTargets(driver), ['192.0.2.12']);
  });

  it('names a change once: the version poll adds no "pool changed" beside the health event', async (t) => {
    const { driver, pool, logs } = await rig(t, config(NAT));
    driver.delayMs = 100;
    pool.setHealthy(pool.servers[0]!, false, 'test');
    await waitFor(() => driver.attempts === 2, 2000, 'driver.attempts === 2');
    // during that apply: a health event, then (pollMs 20) the version poll sees the pool moved
    pool.setHealthy(pool.servers[1]!, false, 'test');
    await waitFor(() => driver.applied.length === 3, 2000, 'driver.applied.length === 3');
    const applied = logs.filter((l) => l.startsWith('rules applied'));
    assert.match(applied.at(-1)!, /\(pool web: server s2 down\)/, applied.join('\n'));
  });

  it('keeps the previous rules when an apply fails, says why, and retries', async (t) => {
    const { driver, pool, logs, dp } = await rig(t, config(NAT));
    const before = await driver.list();
    driver.failNext('Error: Could not process rule: No buffer space available');
    pool.setHealthy(pool.servers[0]!, false, 'test');
    await waitFor(() => driver.attempts === 2, 2000, 'driver.attempts === 2');
    assert.deepEqual(await driver.list(), before);
    await waitFor(() => dp.lastError !== null, 2000, 'dp.lastError !== null');
    assert.match(logs.find((l) => l.includes('No buffer space'))!, /nft refused the transaction .*previous rules stay in force.*retrying in 50 ms/);
    await waitFor(() => driver.applied.length === 2, 2000, 'driver.applied.length === 2');
    assert.equal(dp.lastError, null);
    assert.deepEqual(await liveTargets(driver), ['192.0.2.12']);
  });

  it('drains a server of weight 0: no new flows, its flows are not cut', async (t) => {
    const { driver, flushes } = await rig(t, config(NAT, '[{name: s1, address: "192.0.2.11:80", weight: 0}, {name: s2, address: "192.0.2.12:80"}]'), { drainMs: 20 });
    assert.deepEqual(await liveTargets(driver), ['192.0.2.12']);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(flushes, []);
  });

  it('cuts a failed TCP server\'s flows after the drain time, not if it came back', async (t) => {
    const { pool, flushes, driver } = await rig(t, config(NAT), { drainMs: 150 });
    const [s1, s2] = pool.servers as [typeof pool.servers[0], typeof pool.servers[0]];
    const t0 = Date.now();
    pool.setHealthy(s1, false, 'test');
    await waitFor(() => flushes.length === 1, 2000, 'flushes.length === 1');
    assert.ok(flushes[0]!.at - t0 >= 140, `cut after ${flushes[0]!.at - t0} ms`);
    assert.deepEqual({ ...flushes[0], at: 0 }, { protocol: 'tcp', vip: '203.0.113.10', ports: [80], server: '192.0.2.11', at: 0 });
    // s2 goes down and comes back within its drain time: nothing is cut
    pool.setHealthy(s2, false, 'test');
    await waitFor(() => driver.applied.length === 3, 2000, 'driver.applied.length === 3');
    pool.setHealthy(s2, true, 'test');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(flushes.length, 1);
  });

  it('cuts a failed UDP server\'s flows at once', async (t) => {
    const { pool, flushes } = await rig(t, config(NAT.replace('mode: nat', 'protocol: udp, mode: nat')), { drainMs: 10_000 });
    pool.setHealthy(pool.servers[1]!, false, 'test');
    await waitFor(() => flushes.length === 1, 2000, 'flushes.length === 1');
    assert.equal(flushes[0]!.protocol, 'udp');
    assert.equal(flushes[0]!.server, '192.0.2.12');
  });

  it('applies nothing while paused (a reload starts its new data plane), and catches up on resume', async (t) => {
    const { dp, driver, pool, logs } = await rig(t, config(NAT));
    // Paused right after a change, before the apply it scheduled began.
    pool.setHealthy(pool.servers[0]!, false, 'test');
    await dp.pause();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(driver.applied.length, 1, 'no apply while paused');
    assert.deepEqual(await liveTargets(driver), ['192.0.2.11', '192.0.2.12']);
    dp.resume();
    await waitFor(() => driver.applied.length === 2, 2000, 'driver.applied.length === 2');
    assert.deepEqual(await liveTargets(driver), ['192.0.2.12']);
    assert.match(logs.at(-1)!, /\(pool web: server s1 down, .*resumed\)|\(.*resumed.*\)/);
  });

  it('removes its tables on stop, and only once', async (t) => {
    const { dp, driver } = await rig(t, config(NAT));
    await dp.stop();
    await dp.stop();
    assert.deepEqual(await driver.list(), []);
    assert.equal(driver.applied.length, 2);
  });

  it('refuses to start when the first apply fails, and leaves nothing', async () => {
    const cfg = config(NAT);
    const pool = new Pool(cfg.pools.get('web')!);
    const driver = new FakeDriver();
    driver.failNext('no nf_tables');
    const dp = new Dataplane(cfg.services, new Map([['web', pool]]), { driver, skipPreflight: true, log: () => undefined });
    await assert.rejects(dp.start(), (err: Error & { code?: string }) => err.code === 'FULCRUM_ERR_DATAPLANE' && /no nf_tables/.test(err.message));
    await dp.stop();
    pool.stop();
    assert.equal(driver.attempts, 1, 'no removal of tables it never made');
  });
});

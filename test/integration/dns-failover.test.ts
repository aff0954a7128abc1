/**
 * A failover during queries, end to end: an instance (startInstance, as `fulcrum run`
 * builds it) with a `dns` section and a health-checked pool of two HTTP servers on
 * 127.0.0.11 and 127.0.0.12; dig keeps asking while S1 stops answering its checks; the
 * answers must drop S1 within one interval plus one probe timeout (plus slack for a
 * loaded machine), never name it again while it is down, and take it back when it
 * recovers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_HTTP_CHECK } from '../../src/config/pools/defaults.js';
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from '../../src/config/listeners/defaults.js';
import { DEFAULT_LOGGING } from '../../src/config/logging/defaults.js';
import { DEFAULT_RUNTIME } from '../../src/config/runtime/defaults.js';
import type { Config, HealthConfig } from '../../src/config/types.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { startInstance } from '../../src/runtime/instance.js';
import { serve } from '../helpers/backends.js';
import { missing } from '../helpers/spawn.js';

const run = promisify(execFile);
const DIG = missing('dig', 'Debian package dnsutils');

const INTERVAL_MS = 200;
const TIMEOUT_MS = 150;

async function backend(t: TestContext, host: string): Promise<{ port: number; status: { code: number } }> {
  const status = { code: 200 };
  const server = http.createServer((_req, res) => {
    res.statusCode = status.code;
    res.end('ok');
  });
  return { port: (await serve(server, { t, host })).port, status };
}

describe('dns failover during queries', { skip: DIG }, () => {
  it('a server failing its health check leaves the answers at once and comes back after', async (t) => {
    const s1 = await backend(t, '127.0.0.11');
    const s2 = await backend(t, '127.0.0.12');
    const health: HealthConfig = {
      type: 'http',
      intervalMs: INTERVAL_MS,
      fastIntervalMs: INTERVAL_MS,
      jitter: 0,
      timeoutMs: TIMEOUT_MS,
      rise: 1,
      fall: 1,
      initial: 'up',
      http: { ...DEFAULT_HTTP_CHECK },
    };
    const pool = poolConfig(
      'web',
      [
        { name: 'S1', host: '127.0.0.11', port: s1.port },
        { name: 'S2', host: '127.0.0.12', port: s2.port },
      ],
      health,
    );
    const config: Config = {
      source: '<dns failover test>',
      listeners: [],
      pools: new Map([['web', pool]]),
      timeouts: { ...DEFAULT_TIMEOUTS },
      limits: { ...DEFAULT_LIMITS },
      runtime: { ...DEFAULT_RUNTIME },
      logging: { ...DEFAULT_LOGGING },
      dns: dnsConfig([{ host: '127.0.0.1', port: 0 }], [zoneConfig('example.com', { pools: [poolName('www.example.com.', 'web', { ttl: 1 })] })]),
      services: [],
      admin: null,
    };
    const instance = await startInstance(config);
    t.after(() => instance.stop({ graceMs: 0 }));
    assert.ok(instance.dns !== null);
    const port = instance.dns.addresses()[0]!.port;
    const ask = async () => {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+norec', '+short', '+time=2', '+tries=1', 'www.example.com', 'A'], { timeout: 5000 });
      return stdout.trim().split('\n').filter((l) => l !== '').sort();
    };

    assert.deepEqual(await ask(), ['127.0.0.11', '127.0.0.12']);
    // S1 starts failing its checks; keep querying.
    s1.status.code = 503;
    const failedAt = Date.now();
    let goneAfter = -1;
    const answers: string[][] = [];
    while (Date.now() - failedAt < 4000) {
      const a = await ask();
      answers.push(a);
      if (!a.includes('127.0.0.11')) {
        goneAfter = Date.now() - failedAt;
        break;
      }
    }
    assert.ok(goneAfter >= 0, `S1 still answered after 4 s: ${JSON.stringify(answers.slice(-3))}`);
    // Bound: one interval plus one probe timeout, plus slack for dig start-up on a busy machine.
    assert.ok(goneAfter <= INTERVAL_MS + TIMEOUT_MS + 1000, `S1 left the answers after ${goneAfter} ms`);
    for (let i = 0; i < 5; i++) assert.deepEqual(await ask(), ['127.0.0.12']);

    // Both down: the default policy answers with every server rather than nothing.
    s2.status.code = 503;
    const bothAt = Date.now();
    let all: string[] = [];
    while (Date.now() - bothAt < 4000) {
      all = await ask();
      if (all.length === 2) break;
    }
    assert.deepEqual(all, ['127.0.0.11', '127.0.0.12']);

    // S1 recovers: only S1.
    s1.status.code = 200;
    const backAt = Date.now();
    let back: string[] = [];
    while (Date.now() - backAt < 4000) {
      back = await ask();
      if (back.length === 1 && back[0] === '127.0.0.11') break;
    }
    assert.deepEqual(back, ['127.0.0.11']);
  });
});

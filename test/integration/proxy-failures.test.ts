/**
 * Server failures as the proxy meets them: pooled connections the server has closed
 * (stale reuse), a server that dies in the middle of a run, and a server that refuses
 * connections. Every loop is bounded in count and time.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { closedPort } from '../helpers/ports.js';
import { namedBackend, rawBackend } from '../helpers/backends.js';
import { rawConnect, readRequest, readResponse, request } from '../helpers/http-client.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';
import { sleep } from '../helpers/wait.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

describe('stale upstream reuse', () => {
  test('a server that closes each connection right after answering (no Connection: close): every GET succeeds', async (t) => {
    let served = 0;
    const b = await rawBackend(async (sock, reader) => {
      try {
        const req = await readRequest(reader);
        served++;
        const body = `served ${req.target}`;
        // looks keep-alive (HTTP/1.1, no Connection: close) so the proxy pools it...
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        // ...then the server drops it straight away
        setImmediate(() => sock.destroy());
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    const started = Date.now();
    for (let i = 0; i < 30 && Date.now() - started < 10_000; i++) {
      sock.write(`GET /g${i} HTTP/1.1\r\nHost: s.test\r\n\r\n`);
      const r = await readResponse(reader);
      assert.equal(r.status, 200, `request ${i}: ${r.body.toString()}`);
      assert.equal(r.body.toString(), `served /g${i}`);
      if (i % 3 === 0) await sleep(5); // sometimes let the FIN arrive first, sometimes not
    }
    assert.equal(served, 30);
  });

  /**
   * A server that answers the first request of each connection (keep-alive) and drops
   * the connection without answering when a second request arrives on it: the proxy's
   * pooled connection is always dead on reuse, deterministically.
   */
  async function oneShotBackend() {
    const stats = { served: 0, droppedOnReuse: 0, bodies: [] as string[] };
    const b = await rawBackend(async (sock, reader) => {
      try {
        const req = await readRequest(reader, 10_000);
        stats.served++;
        stats.bodies.push(req.body.toString());
        const body = `${req.method} ${req.target} ok`;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        await reader.readSome(10_000);
        stats.droppedOnReuse++;
        sock.destroy();
      } catch {
        sock.destroy();
      }
    });
    return Object.assign(b, { stats });
  }

  test('GET on a dead reused connection is retried on a fresh one', async (t) => {
    const b = await oneShotBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    for (let i = 0; i < 5; i++) {
      const r = await request(p.port, { path: `/r${i}` });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.body.toString(), `GET /r${i} ok`);
    }
    assert.equal(b.stats.served, 5);
    assert.equal(b.stats.droppedOnReuse, 4, 'requests 2..5 each found the pooled connection dead and were retried');
  });

  test('POST with a body on a dead reused connection gets a 502, not a hang', async (t) => {
    const b = await oneShotBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    assert.equal((await request(p.port, { path: '/first' })).status, 200); // leaves a pooled connection
    const started = Date.now();
    const r = await request(p.port, { method: 'POST', path: '/order', body: 'amount=10', headers: { 'Content-Type': 'text/plain' }, timeoutMs: 5000 });
    assert.equal(r.status, 502, r.body.toString());
    assert.ok(Date.now() - started < 3000, 'answered promptly');
    assert.equal(b.stats.droppedOnReuse, 1);
    assert.ok(!b.stats.bodies.includes('amount=10'), 'the POST was not replayed');
    // and the proxy goes on
    assert.equal((await request(p.port, { path: '/after' })).status, 200);
  });
});

describe('server death and refusal', () => {
  test('a server killed in the middle of 200 sequential requests: the other serves the rest, none fail', async (t) => {
    const s1 = await namedBackend('S1');
    const s2 = await namedBackend('S2');
    const p = await startProxy(simpleYaml([{ port: s1.port, name: 'S1' }, { port: s2.port, name: 'S2' }]));
    t.after(() => Promise.all([p.stop(), s1.close(), s2.close()]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const counts: Record<string, number> = {};
    const failures: string[] = [];
    const started = Date.now();
    let i = 0;
    for (; i < 200 && Date.now() - started < 20_000; i++) {
      if (i === 60) await s1.close(); // listener closed and every socket (pooled ones included) destroyed
      try {
        const r = await request(p.port, { path: `/n${i}`, agent });
        if (r.status !== 200) failures.push(`#${i}: ${r.status} ${r.body.toString().trim()}`);
        else counts[`${i < 60 ? 'before' : 'after'} ${r.body.toString()}`] = (counts[`${i < 60 ? 'before' : 'after'} ${r.body.toString()}`] ?? 0) + 1;
      } catch (e) {
        failures.push(`#${i}: ${(e as Error).message}`);
      }
    }
    assert.equal(i, 200, 'the loop finished in time');
    assert.deepEqual(failures, []);
    assert.deepEqual(counts, { 'before S1': 30, 'before S2': 30, 'after S2': 140 });
  });

  test('a server killed while requests are in flight: the proxy stays up and later requests succeed', async (t) => {
    const slow = await rawBackend(async (sock, reader) => {
      try {
        for (let k = 0; k < 100; k++) {
          await readRequest(reader, 10_000);
          await sleep(20);
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow');
        }
      } catch {
        sock.destroy();
      }
    });
    const s2 = await namedBackend('S2');
    const p = await startProxy(simpleYaml([slow.port, s2.port]));
    t.after(() => Promise.all([p.stop(), slow.close(), s2.close()]));
    const statuses: Record<string, number> = {};
    const one = async (k: number) => {
      try {
        const r = await request(p.port, { path: `/c${k}`, timeoutMs: 5000 });
        statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
      } catch (e) {
        statuses[(e as Error).name] = (statuses[(e as Error).name] ?? 0) + 1;
      }
    };
    const inflight: Array<Promise<void>> = [];
    for (let k = 0; k < 40; k++) inflight.push(one(k));
    await sleep(10);
    await slow.close();
    await Promise.all(inflight);
    t.diagnostic(`40 requests around the kill: ${JSON.stringify(statuses)}`);
    assert.equal(statuses['AbortError'], undefined, `no request hung: ${JSON.stringify(statuses)}`);
    // afterwards every request succeeds (served by S2)
    for (let k = 0; k < 20; k++) {
      const r = await request(p.port, { path: `/later${k}` });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.body.toString(), 'S2');
    }
  });

  test('connection refused by one of two servers: every request goes to the other, zero failures', async (t) => {
    const dead = await closedPort();
    const s2 = await namedBackend('S2');
    const p = await startProxy(simpleYaml([{ port: dead, name: 'DEAD' }, { port: s2.port, name: 'S2' }]));
    t.after(() => Promise.all([p.stop(), s2.close()]));
    const bodies = new Set<string>();
    for (let k = 0; k < 40; k++) {
      const r = await request(p.port, { path: `/x${k}`, method: k % 4 === 3 ? 'POST' : 'GET', body: k % 4 === 3 ? 'data' : undefined });
      assert.equal(r.status, 200, `#${k}: ${r.body.toString()}`);
      bodies.add(r.body.toString());
    }
    assert.deepEqual([...bodies], ['S2']);
  });

  test('every server refusing: 503 with a reason in the log, promptly', async (t) => {
    const errors = recordUpstreamErrors(t);
    const p = await startProxy(simpleYaml([await closedPort(), await closedPort()]));
    t.after(() => p.stop());
    const started = Date.now();
    const r = await request(p.port, { path: '/none' });
    assert.equal(r.status, 503);
    assert.match(errors.last(503), /connect/);
    assert.equal(r.body.toString(), upstreamErrorBody(503), 'the body names no server, pool or address');
    assert.ok(Date.now() - started < 3000);
  });
});

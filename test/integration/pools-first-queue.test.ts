/**
 * balance: first with max_conn, and the pool queue, through the real HTTP proxy: the
 * backends hold their responses until the test releases them, so "full" is exact.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { rawConnect, readResponse, send, type Reply } from '../helpers/http-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { poolBackends, type PoolBackend } from '../helpers/backends.js';
import { poolYaml, proxyFor } from '../helpers/proxies.js';
import { recordEvents, recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

const SETTLE_MS = 150;

/** Two holding backends behind `balance: first`, max_conn 2 each, with `poolLines`. */
async function setup(t: TestContext, pool: string, poolLines: string[] = []) {
  const [a, b] = await poolBackends(t, ['f1', 'f2'], { hold: true });
  const p = await proxyFor(
    t,
    poolYaml({
      pool,
      balance: 'first',
      servers: [
        { name: 'f1', port: a!.port, extra: 'max_conn: 2' },
        { name: 'f2', port: b!.port, extra: 'max_conn: 2' },
      ],
      poolLines,
    }),
  );
  return { a: a!, b: b!, p };
}

/** Waits until backend `b` holds `n` requests. */
async function holding(b: PoolBackend, n: number, ms = 3000): Promise<void> {
  await waitFor(() => b.held.length >= n, ms, () => `${b.name} to hold ${n} requests (holds ${b.held.length}: ${b.held.map((h) => h.path)})`);
}

test('first: fills f1 up to max_conn 2, then f2; a freed slot on f1 is used again before f2', async (t) => {
  const { a, b, p } = await setup(t, 'fst');
  const replies: Array<Promise<Reply>> = [];
  const go = (path: string) => {
    const r = send(p.port, { path });
    replies.push(r);
    return r;
  };
  go('/1');
  go('/2');
  await holding(a, 2);
  await sleep(SETTLE_MS);
  assert.equal(b.seen.length, 0, 'f2 gets nothing while f1 has room');
  go('/3');
  await holding(b, 1);
  go('/4');
  await holding(b, 2);
  assert.deepEqual(a.seen, ['/1', '/2']);
  assert.deepEqual(b.seen, ['/3', '/4']);

  // f1 frees a slot: the next request goes to f1 again
  a.release(1);
  const r1 = await replies[0]!;
  assert.equal(r1.status, 200);
  assert.equal(r1.by, 'f1');
  go('/5');
  await holding(a, 2);
  assert.deepEqual(a.seen, ['/1', '/2', '/5']);
  assert.equal(a.maxInFlight, 2, 'f1 never had more than max_conn requests at once');
  assert.equal(b.maxInFlight, 2, 'f2 never had more than max_conn requests at once');

  a.release(2);
  b.release(2);
  const all = await Promise.all(replies);
  assert.deepEqual(
    all.map((r) => `${r.status} ${r.by} ${r.headers['x-path']}`),
    ['200 f1 /1', '200 f1 /2', '200 f2 /3', '200 f2 /4', '200 f1 /5'],
  );
});

test('queue: with every slot taken, requests wait and are served in order as slots free; beyond the size, 503 at once with Retry-After', async (t) => {
  const errors = recordUpstreamErrors(t);
  const { a, b, p } = await setup(t, 'fq', ['    queue: { size: 2, timeout: 4s }']);
  const busy = ['/1', '/2', '/3', '/4'].map((path) => send(p.port, { path }));
  await holding(a, 2);
  await holding(b, 2);

  const q1 = send(p.port, { path: '/q1' });
  await sleep(50); // q1 queues before q2
  const q2 = send(p.port, { path: '/q2' });
  await sleep(SETTLE_MS);
  assert.equal(a.seen.length + b.seen.length, 4, 'queued requests reach no server');

  // the queue holds 2: a third extra request is refused at once
  const t0 = Date.now();
  const over = await send(p.port, { path: '/over' });
  const took = Date.now() - t0;
  assert.equal(over.status, 503);
  assert.equal(over.headers['retry-after'], '1');
  assert.match(errors.last(503), /queue .*is full/i, 'the log says the queue is full');
  assert.equal(over.body, upstreamErrorBody(503), 'the body names no server, pool or address');
  assert.ok(took < 500, `refused at once (${took} ms)`);
  assert.ok(!a.seen.includes('/over') && !b.seen.includes('/over'));

  // a slot frees on f2: the oldest waiter (q1) takes it, not q2
  b.release(1);
  await holding(b, 2);
  assert.deepEqual(b.seen, ['/3', '/4', '/q1']);
  await sleep(SETTLE_MS);
  assert.ok(!a.seen.includes('/q2') && !b.seen.includes('/q2'), 'q2 still waits');

  // next slot (on f1): q2
  a.release(1);
  await holding(a, 2);
  assert.deepEqual(a.seen, ['/1', '/2', '/q2']);

  a.release(2);
  b.release(2);
  const rs = await Promise.all([...busy, q1, q2]);
  assert.deepEqual(
    rs.map((r) => `${r.status} ${r.headers['x-path']}`),
    ['200 /1', '200 /2', '200 /3', '200 /4', '200 /q1', '200 /q2'],
  );
});

test('queue timeout: a request waiting longer than queue.timeout gets 503 with Retry-After and a body about the timeout', async (t) => {
  const errors = recordUpstreamErrors(t);
  const { a, b, p } = await setup(t, 'fqt', ['    queue: { size: 5, timeout: 300ms }']);
  const busy = ['/1', '/2', '/3', '/4'].map((path) => send(p.port, { path }));
  await holding(a, 2);
  await holding(b, 2);

  const t0 = Date.now();
  const r = await send(p.port, { path: '/late' });
  const waited = Date.now() - t0;
  t.diagnostic(`queue timeout answered after ${waited} ms (timeout 300 ms): ${r.body.trim()}`);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.match(errors.last(503), /300 ms/, 'the log names the queue timeout');
  assert.ok(waited >= 280, `waited the queue timeout (${waited} ms)`);
  assert.ok(waited < 1500, `not much longer than the queue timeout (${waited} ms)`);
  assert.ok(!a.seen.includes('/late') && !b.seen.includes('/late'), 'the timed-out request reached no server');

  // the servers are unaffected and the pool still works
  a.release(2);
  b.release(2);
  for (const x of await Promise.all(busy)) assert.equal(x.status, 200);
  b.hold = a.hold = false;
  const after = await send(p.port, { path: '/after' });
  assert.equal(after.status, 200);
  assert.equal(after.by, 'f1');
});

for (const how of ['reset (RST)', 'close (FIN)'] as const) {
  test(`queue: a queued client that disconnects by ${how} leaves the queue; the next waiter gets the slot`, async (t) => {
    const { a, b, p } = await setup(t, how.startsWith('reset') ? 'fqr' : 'fqf', ['    queue: { size: 2, timeout: 4s }']);
    const busy = ['/1', '/2', '/3', '/4'].map((path) => send(p.port, { path }));
    await holding(a, 2);
    await holding(b, 2);

    const gone = await rawConnect(p.port);
    gone.sock.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(50);
    const next = send(p.port, { path: '/next' });
    await sleep(SETTLE_MS);
    // the client gives up: socket.destroy() with nothing unread sends FIN (what curl or a
    // browser does when the user stops waiting); resetAndDestroy() sends RST
    if (how.startsWith('reset')) gone.sock.resetAndDestroy();
    else gone.sock.destroy();
    await sleep(SETTLE_MS);

    // the queue had room for both; the one that left no longer counts: a new one fits
    const third = send(p.port, { path: '/third' });
    await sleep(SETTLE_MS);

    b.release(1);
    await holding(b, 2);
    assert.deepEqual(b.seen, ['/3', '/4', '/next'], 'the slot went to the next waiter, not to the client that left');
    a.release(1);
    await holding(a, 2);
    assert.deepEqual(a.seen, ['/1', '/2', '/third']);
    a.release(2);
    b.release(2);
    const rs = await Promise.all([...busy, next, third]);
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.ok(![...a.seen, ...b.seen].includes('/gone'), 'the request of the client that left never reached a server');
  });
}

test('queue: with every usable server down, a request is refused at once instead of queued', async (t) => {
  const errors = recordUpstreamErrors(t);
  const [a, b] = await poolBackends(t, ['f1', 'f2'], { healthStatus: 503 });
  const ev = recordEvents(t, 'fqn');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'fqn',
      balance: 'first',
      servers: [
        { name: 'f1', port: a!.port, extra: 'max_conn: 2' },
        { name: 'f2', port: b!.port, extra: 'max_conn: 2' },
      ],
      poolLines: ['    queue: { size: 5, timeout: 3s }', '    health: { interval: 100ms, timeout: 100ms, jitter: 0, fall: 1, rise: 1 }'],
    }),
  );
  await ev.waitState('f1', 'down', 2000);
  await ev.waitState('f2', 'down', 2000);
  const t0 = Date.now();
  const r = await send(p.port);
  const took = Date.now() - t0;
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.match(errors.last(503), /f1 down, f2 down/);
  assert.ok(took < 300, `at once (${took} ms)`);
});

test('queue: a waiter gets a server that becomes usable (health check up) while every other one is full', async (t) => {
  const [a, b] = await poolBackends(t, ['f1', 'f2'], { hold: true });
  b!.healthStatus = 503;
  const ev = recordEvents(t, 'fqu');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'fqu',
      balance: 'first',
      servers: [
        { name: 'f1', port: a!.port, extra: 'max_conn: 1' },
        { name: 'f2', port: b!.port, extra: 'max_conn: 1' },
      ],
      poolLines: ['    queue: { size: 5, timeout: 3s }', '    health: { interval: 100ms, timeout: 100ms, jitter: 0, fall: 1, rise: 1 }'],
    }),
  );
  await ev.waitState('f2', 'down', 2000);
  const busy = send(p.port, { path: '/busy' });
  await holding(a, 1);
  const t0 = Date.now();
  const waiter = send(p.port, { path: '/waiter' });
  await sleep(SETTLE_MS);
  assert.equal(b.seen.length, 0);
  b!.healthStatus = 200;
  const up = await ev.waitState('f2', 'up', 2000);
  // f2 has room now: the waiter should not sit out the whole queue timeout
  await waitFor(() => b!.held.length === 1, 1500, () => `the waiter to reach f2 once it is up (f2 up ${up.at - t0} ms after the waiter queued; f2 saw ${JSON.stringify(b!.seen)})`);
  b.release(1);
  a.release(1);
  const r = await waiter;
  assert.equal(r.status, 200);
  assert.equal(r.by, 'f2');
  assert.equal((await busy).status, 200);
});

/**
 * f1 and f2 (max_conn 1 each, held); f2 is taken down by its checks while its request is
 * still in progress. When that request ends, f2 has "room" but is not usable: the
 * waiters must keep their place and their deadline.
 */
async function downWithOneInFlight(t: TestContext, pool: string, timeout: string) {
  const [a, b] = await poolBackends(t, ['f1', 'f2'], { hold: true });
  const ev = recordEvents(t, pool);
  const p = await proxyFor(
    t,
    poolYaml({
      pool,
      balance: 'first',
      servers: [
        { name: 'f1', port: a!.port, extra: 'max_conn: 1' },
        { name: 'f2', port: b!.port, extra: 'max_conn: 1' },
      ],
      poolLines: [`    queue: { size: 5, timeout: ${timeout} }`, '    health: { interval: 100ms, timeout: 100ms, jitter: 0, fall: 1, rise: 1 }'],
    }),
  );
  const busy = [send(p.port, { path: '/a' })];
  await holding(a!, 1);
  busy.push(send(p.port, { path: '/b' }));
  await holding(b!, 1);
  b!.healthStatus = 503;
  await ev.waitState('f2', 'down', 2000);
  return { a: a!, b: b!, p, busy };
}

test('queue: a request ending on a server that is down does not cost the oldest waiter its place', async (t) => {
  const { a, b, p, busy } = await downWithOneInFlight(t, 'fqo', '4s');
  const w1 = send(p.port, { path: '/w1' });
  await sleep(50);
  const w2 = send(p.port, { path: '/w2' });
  await sleep(SETTLE_MS);
  b.release(1); // /b ends on f2, which is down: nothing usable has room
  await sleep(SETTLE_MS);
  a.release(1); // /a ends on f1: the oldest waiter, w1, takes it
  await holding(a, 1);
  assert.deepEqual(a.seen, ['/a', '/w1'], 'the oldest waiter gets the first usable slot');
  a.release(1);
  await holding(a, 1);
  a.hold = false;
  a.release(1);
  assert.deepEqual(a.seen, ['/a', '/w1', '/w2']);
  for (const r of await Promise.all([...busy, w1, w2])) assert.equal(r.status, 200);
});

test('queue: a waiter is answered within queue.timeout even when a request ends on a server that is down meanwhile', async (t) => {
  const { a, b, p, busy } = await downWithOneInFlight(t, 'fqx', '1s');
  const t0 = Date.now();
  const w = send(p.port, { path: '/w' });
  await sleep(500);
  b.release(1); // /b ends on f2, which is down
  const r = await w;
  const waited = Date.now() - t0;
  t.diagnostic(`queue timeout 1000 ms: answered after ${waited} ms`);
  assert.equal(r.status, 503);
  assert.ok(waited < 1350, `answered within queue.timeout (+ its 250 ms check period): ${waited} ms`);
  a.release(1);
  for (const x of await Promise.all(busy)) assert.equal(x.status, 200);
});

test('queue: request body bytes that arrive while the request waits are all sent once a server has room', async (t) => {
  const { a, b, p } = await setup(t, 'fqb', ['    queue: { size: 2, timeout: 4s }']);
  const busy = ['/1', '/2', '/3', '/4'].map((path) => send(p.port, { path }));
  await holding(a, 2);
  await holding(b, 2);
  const { sock, reader } = await rawConnect(p.port);
  t.after(() => sock.destroy());
  sock.write('POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello');
  await sleep(SETTLE_MS); // queued, with half of its body
  sock.write('world');
  await sleep(SETTLE_MS);
  b.hold = false;
  b.release(1);
  const r = await readResponse(reader, 'POST');
  assert.equal(r.status, 200, 'the whole body reached the server, which answered');
  assert.ok(b.seen.includes('/body'));
  a.release(2);
  b.release(2);
  await Promise.all(busy);
});

/**
 * Listener `max_connections` through the real HTTP proxy: connections beyond the limit
 * are closed at accept, the ones inside it keep working, and a freed place is reused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawConnect, readResponse } from '../helpers/http-client.js';
import { sleep } from '../helpers/wait.js';
import { poolBackends } from '../helpers/backends.js';
import { poolYaml, proxyFor } from '../helpers/proxies.js';

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: lb.test\r\n\r\n`;

test('max_connections 2: a third concurrent connection is closed at once; the first two keep working; a freed place is reused', async (t) => {
  const [b] = await poolBackends(t, ['s1']);
  const p = await proxyFor(t, poolYaml({ pool: 'mc', servers: [{ name: 's1', port: b!.port }], listenerLines: ['    max_connections: 2'] }));

  const c1 = await rawConnect(p.port);
  const c2 = await rawConnect(p.port);
  t.after(() => {
    c1.sock.destroy();
    c2.sock.destroy();
  });
  for (const [i, c] of [c1, c2].entries()) {
    c.sock.write(GET(`/c${i + 1}`));
    const r = await readResponse(c.reader);
    assert.equal(r.status, 200);
  }

  const t0 = Date.now();
  const c3 = await rawConnect(p.port);
  t.after(() => c3.sock.destroy());
  c3.sock.write(GET('/c3'));
  const ended = await c3.reader.waitEnd(2000);
  const took = Date.now() - t0;
  assert.ok(ended, 'the third connection is closed');
  assert.ok(took < 500, `closed at once (${took} ms)`);
  assert.equal(c3.reader.buffered, 0, 'no answer on the refused connection');
  assert.ok(!b!.seen.includes('/c3'), 'its request reached no server');

  // the first two still work, several requests each (keep-alive)
  for (let k = 0; k < 3; k++) {
    for (const [i, c] of [c1, c2].entries()) {
      c.sock.write(GET(`/c${i + 1}-${k}`));
      const r = await readResponse(c.reader);
      assert.equal(r.status, 200, `connection ${i + 1} request ${k}`);
    }
  }

  // one leaves: a new connection fits again (the proxy sees the close asynchronously)
  c1.sock.destroy();
  let served = false;
  for (let attempt = 0; attempt < 20 && !served; attempt++) {
    await sleep(25);
    const c4 = await rawConnect(p.port);
    try {
      c4.sock.write(GET('/c4'));
      const r = await readResponse(c4.reader, 'GET', 1000).catch(() => null);
      served = r !== null && r.status === 200;
    } finally {
      c4.sock.destroy();
    }
  }
  assert.ok(served, 'a connection is accepted again once one of the two has closed');
  c2.sock.write(GET('/c2-last'));
  assert.equal((await readResponse(c2.reader)).status, 200);
});

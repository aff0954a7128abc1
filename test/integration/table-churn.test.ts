/**
 * No Map or Set gains and loses a member per request or per connection in the proxy's
 * code. Such a table replaces its backing store every few changes, and V8 keeps in each
 * replaced store a pointer to the next: once one of them is in the old generation, every
 * request they listed survives young-generation collections (core/id-table.ts). This
 * counts the calls that would do it, from the proxy's own modules, while HTTP/2 requests
 * and HTTP/1.1 `Connection: close` requests run; a Set of streams or connections, or a
 * sweeper on a Set, makes hundreds.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { echoBackend } from '../helpers/backends.js';
import { h2Request, h2Session } from '../helpers/http-client.js';
import { proxyFor, simpleYaml } from '../helpers/proxies.js';

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Counts Map.set/delete and Set.add/delete made from files under src/ (compiled) while `run` runs. */
async function countTableChanges(run: () => Promise<void>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const patched: Array<[object, string, Method]> = [
    [Map.prototype, 'set', Map.prototype.set as Method],
    [Map.prototype, 'delete', Map.prototype.delete as Method],
    [Set.prototype, 'add', Set.prototype.add as Method],
    [Set.prototype, 'delete', Set.prototype.delete as Method],
  ];
  const mapSet = Map.prototype.set;
  let inside = false;
  for (const [proto, name, original] of patched) {
    (proto as Record<string, Method>)[name] = function (this: unknown, ...args: unknown[]): unknown {
      if (!inside && this !== counts) {
        inside = true;
        try {
          // the caller is the third line of the stack (Error, this wrapper, the caller)
          const caller = new Error().stack?.split('\n')[2] ?? '';
          const m = /\/dist\/src\/(\S+?):\d+:\d+\)?$/.exec(caller);
          if (m !== null) mapSet.call(counts, `${name} ${m[1]}`, (counts.get(`${name} ${m[1]}`) ?? 0) + 1);
        } finally {
          inside = false;
        }
      }
      return original.apply(this, args);
    };
  }
  try {
    await run();
  } finally {
    for (const [proto, name, original] of patched) (proto as Record<string, Method>)[name] = original;
  }
  return counts;
}

function closeRequest(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

test('requests and connections come and go without a Map or Set changing per request', async (t) => {
  const s1 = await echoBackend(t, 'S1');
  const p = await proxyFor(t, simpleYaml([s1.port], { listener: '    http2: { h2c: true }' }));
  const session = await h2Session(t, p.port, { h2c: true });
  // warm up: pools, HPACK tables, the first connections
  for (let i = 0; i < 10; i++) assert.equal((await h2Request(session, { ':path': '/' })).status, 200);
  for (let i = 0; i < 5; i++) assert.equal(await closeRequest(p.port), 200);

  const streams = 200;
  const connections = 50;
  const counts = await countTableChanges(async () => {
    for (let i = 0; i < streams; i += 20) {
      const replies = await Promise.all(Array.from({ length: 20 }, () => h2Request(session, { ':path': '/' })));
      for (const r of replies) assert.equal(r.status, 200);
    }
    for (let i = 0; i < connections; i++) assert.equal(await closeRequest(p.port), 200);
  });
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  assert.ok(total < 20, `${total} Map/Set changes from src/ over ${streams} HTTP/2 requests and ${connections} connections: ${JSON.stringify([...counts])}`);
});

/**
 * Sticky sessions and maglev hashing through the real HTTP proxy, with node:http
 * backends on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { httpBackend, poolBackends } from '../helpers/backends.js';
import { keepAliveAgent, send } from '../helpers/http-client.js';
import { poolYaml, proxyFor } from '../helpers/proxies.js';
import { recordEvents, tally } from '../helpers/pools-util.js';

const COOKIE_RE = (name: string) => new RegExp(`^${name}=([A-Za-z0-9._-]+); Path=/; HttpOnly$`);

/** The single Set-Cookie value of a reply, or undefined. */
function setCookie(r: { headers: { 'set-cookie'?: string[] } }): string | undefined {
  const v = r.headers['set-cookie'];
  if (v === undefined) return undefined;
  assert.equal(v.length, 1, `one Set-Cookie: ${JSON.stringify(v)}`);
  return v[0];
}

describe('sticky', () => {
  test('the first answer sets FULCRUM_SERVER; 20 requests with it stay on that server and are not re-set', async (t) => {
    const bs = await poolBackends(t, ['s1', 's2', 's3']);
    const p = await proxyFor(t, poolYaml({ pool: 'stk', balance: 'sticky', servers: bs.map((b) => ({ name: b.name, port: b.port })) }));
    const agent = keepAliveAgent(t);

    const first = await send(p.port, { agent });
    assert.equal(first.status, 200);
    const sc = setCookie(first);
    assert.ok(sc !== undefined, 'the first answer sets a cookie');
    const m = COOKIE_RE('FULCRUM_SERVER').exec(sc);
    assert.ok(m !== null, `Set-Cookie is "FULCRUM_SERVER=<name>; Path=/; HttpOnly": ${sc}`);
    assert.equal(m[1], first.by, 'the cookie names the server that answered');

    // the other servers are next in the fallback's rotation, yet the cookie wins
    for (let i = 0; i < 20; i++) {
      const r = await send(p.port, { agent, headers: { Cookie: `FULCRUM_SERVER=${first.by}` } });
      assert.equal(r.status, 200);
      assert.equal(r.by, first.by, `request ${i} stays on ${first.by}`);
      assert.equal(r.headers['set-cookie'], undefined, `request ${i}: the cookie is not set again`);
    }
    // among other cookies, and for every server in turn
    for (const b of bs) {
      for (let i = 0; i < 3; i++) {
        const r = await send(p.port, { agent, headers: { Cookie: `a=1; FULCRUM_SERVER=${b.name}; z=2` } });
        assert.equal(r.by, b.name);
        assert.equal(r.headers['set-cookie'], undefined);
      }
    }
    // requests without the cookie are spread by the fallback (round robin), each with its cookie
    const fresh = [];
    for (let i = 0; i < 6; i++) {
      const r = await send(p.port, { agent });
      assert.equal(setCookie(r), `FULCRUM_SERVER=${r.by}; Path=/; HttpOnly`);
      fresh.push(r.by);
    }
    assert.deepEqual(Object.keys(tally(fresh)).sort(), ['s1', 's2', 's3'], `the fallback spreads: ${fresh}`);
  });

  test('a custom cookie name is set and honoured; the default name is then ignored', async (t) => {
    const bs = await poolBackends(t, ['app1', 'app2']);
    const p = await proxyFor(
      t,
      poolYaml({ pool: 'stkc', balance: 'sticky', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    sticky: { cookie: LB_SRV, fallback: least-conn }'] }),
    );
    const agent = keepAliveAgent(t);
    const first = await send(p.port, { agent });
    assert.equal(setCookie(first), `LB_SRV=${first.by}; Path=/; HttpOnly`);
    for (let i = 0; i < 20; i++) {
      const r = await send(p.port, { agent, headers: { Cookie: `LB_SRV=${first.by}` } });
      assert.equal(r.by, first.by);
      assert.equal(r.headers['set-cookie'], undefined);
    }
    // FULCRUM_SERVER means nothing to this pool: no stickiness, and LB_SRV is set
    const other = first.by === 'app1' ? 'app2' : 'app1';
    const r = await send(p.port, { agent, headers: { Cookie: `FULCRUM_SERVER=${other}` } });
    assert.equal(r.status, 200);
    assert.equal(setCookie(r), `LB_SRV=${r.by}; Path=/; HttpOnly`);
  });

  test('an unknown server name in the cookie falls back and gets a new cookie', async (t) => {
    const bs = await poolBackends(t, ['s1', 's2']);
    const p = await proxyFor(t, poolYaml({ pool: 'stku', balance: 'sticky', servers: bs.map((b) => ({ name: b.name, port: b.port })) }));
    const seen: string[] = [];
    for (const bad of ['nope', 'S1', '', '"s9"']) {
      const r = await send(p.port, { headers: { Cookie: `FULCRUM_SERVER=${bad}` } });
      assert.equal(r.status, 200, `cookie ${JSON.stringify(bad)} is answered`);
      assert.equal(setCookie(r), `FULCRUM_SERVER=${r.by}; Path=/; HttpOnly`, `cookie ${JSON.stringify(bad)} is replaced`);
      seen.push(r.by);
    }
    assert.deepEqual(Object.keys(tally(seen)).sort(), ['s1', 's2'], `fallback round robin: ${seen}`);
    // a quoted valid name is honoured as the name
    const q = await send(p.port, { headers: { Cookie: 'FULCRUM_SERVER="s2"' } });
    assert.equal(q.by, 's2');
  });

  test('the named server down (backend closed, health check) or drained (weight 0): the fallback picks and the cookie is set anew', async (t) => {
    const bs = await poolBackends(t, ['s1', 's2', 's3']);
    const ev = recordEvents(t, 'stkd');
    const p = await proxyFor(
      t,
      poolYaml({
        pool: 'stkd',
        balance: 'sticky',
        servers: [
          { name: 's1', port: bs[0]!.port },
          { name: 's2', port: bs[1]!.port },
          { name: 's3', port: bs[2]!.port, extra: 'weight: 0' },
        ],
        poolLines: ['    health: { type: tcp, interval: 100ms, timeout: 100ms, fall: 1, rise: 1, jitter: 0 }'],
      }),
    );
    const agent = keepAliveAgent(t);
    let r = await send(p.port, { agent, headers: { Cookie: 'FULCRUM_SERVER=s1' } });
    assert.equal(r.by, 's1');
    assert.equal(r.headers['set-cookie'], undefined);

    // weight 0: s3 gets nothing, even when the cookie names it
    for (let i = 0; i < 4; i++) {
      r = await send(p.port, { agent, headers: { Cookie: 'FULCRUM_SERVER=s3' } });
      assert.equal(r.status, 200);
      assert.notEqual(r.by, 's3');
      assert.equal(setCookie(r), `FULCRUM_SERVER=${r.by}; Path=/; HttpOnly`);
    }
    assert.equal(bs[2]!.seen.length, 0, 'the drained server got no request');

    // s1 crashes: the checks mark it down, and its clients move to s2 with a new cookie
    await bs[0]!.close();
    const down = await ev.waitState('s1', 'down', 3000);
    assert.match(down.reason, /check/);
    for (let i = 0; i < 5; i++) {
      r = await send(p.port, { agent, headers: { Cookie: 'FULCRUM_SERVER=s1' } });
      assert.equal(r.status, 200);
      assert.equal(r.by, 's2');
      assert.equal(setCookie(r), 'FULCRUM_SERVER=s2; Path=/; HttpOnly');
    }
    // and with the new cookie they stay there, without it being set again
    r = await send(p.port, { agent, headers: { Cookie: 'FULCRUM_SERVER=s2' } });
    assert.equal(r.by, 's2');
    assert.equal(r.headers['set-cookie'], undefined);
  });
});

test('sticky: a server\'s own Set-Cookie is kept next to the sticky one', async (t) => {
  const b = await httpBackend((req, res) => {
    req.resume();
    res.writeHead(200, [['Set-Cookie', 'app=1; Path=/'], ['Set-Cookie', 'theme=dark'], ['Content-Length', '2'], ['X-Served-By', 'own']]);
    res.end('ok');
  });
  t.after(() => b.close());
  const p = await proxyFor(t, poolYaml({ pool: 'stko', balance: 'sticky', servers: [{ name: 'own', port: b.port }] }));
  const r = await send(p.port);
  assert.equal(r.status, 200);
  assert.deepEqual([...(r.headers['set-cookie'] ?? [])].sort(), ['FULCRUM_SERVER=own; Path=/; HttpOnly', 'app=1; Path=/', 'theme=dark']);
  const again = await send(p.port, { headers: { Cookie: 'FULCRUM_SERVER=own; app=1' } });
  assert.deepEqual([...(again.headers['set-cookie'] ?? [])].sort(), ['app=1; Path=/', 'theme=dark'], 'only the server\'s own cookies once sticky');
});

describe('maglev', () => {
  test('hash {header: X-User}: 50 values x 3 requests each stick to one server; values spread over all; no header spreads', async (t) => {
    const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
    const p = await proxyFor(
      t,
      poolYaml({ pool: 'mgh', balance: 'maglev', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    hash: { header: X-User }'] }),
    );
    const agent = keepAliveAgent(t, 8);
    const owner = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const user = `user-${i}`;
        for (let k = 0; k < 3; k++) {
          // header names are case-insensitive
          const r = await send(p.port, { agent, headers: k === 1 ? { 'x-user': user } : { 'X-User': user } });
          assert.equal(r.status, 200);
          const prev = owner.get(user);
          if (prev === undefined) owner.set(user, r.by);
          else assert.equal(r.by, prev, `${user} stays on ${prev}`);
        }
      }),
    );
    const shares = tally([...owner.values()]);
    t.diagnostic(`keys per server: ${JSON.stringify(shares)}`);
    for (const b of bs) assert.ok((shares[b.name] ?? 0) >= 5, `${b.name} owns a fair part of 50 keys: ${JSON.stringify(shares)}`);

    // without the header: spread at random (all three servers within 60 requests)
    const none: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await send(p.port, { agent });
      assert.equal(r.status, 200);
      none.push(r.by);
    }
    assert.deepEqual(Object.keys(tally(none)).sort(), ['m1', 'm2', 'm3'], `requests without the key spread: ${JSON.stringify(tally(none))}`);
  });

  test('hash ip: one client address sticks to one server; 30 addresses (127.0.0.x) spread', async (t) => {
    const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
    const p = await proxyFor(t, poolYaml({ pool: 'mgi', balance: 'maglev', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    hash: ip'] }));
    const owner = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const ip = `127.0.0.${i + 10}`;
        for (let k = 0; k < 3; k++) {
          const r = await send(p.port, { localAddress: ip });
          assert.equal(r.status, 200);
          const prev = owner.get(ip);
          if (prev === undefined) owner.set(ip, r.by);
          else assert.equal(r.by, prev, `${ip} stays on ${prev}`);
        }
      }),
    );
    const shares = tally([...owner.values()]);
    t.diagnostic(`addresses per server: ${JSON.stringify(shares)}`);
    assert.deepEqual(Object.keys(shares).sort(), ['m1', 'm2', 'm3'], `addresses spread: ${JSON.stringify(shares)}`);
  });

  test('hash {query: id}: by the parameter value only (path and other parameters do not matter); without it, spread', async (t) => {
    const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
    const p = await proxyFor(
      t,
      poolYaml({ pool: 'mgq', balance: 'maglev', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    hash: { query: id }'] }),
    );
    const agent = keepAliveAgent(t, 8);
    const owner = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const targets = [`/?id=${i}`, `/a/b?x=1&id=${i}`, `/zz?id=${i}&y=${i * 7}`];
        for (const path of targets) {
          const r = await send(p.port, { agent, path });
          const prev = owner.get(String(i));
          if (prev === undefined) owner.set(String(i), r.by);
          else assert.equal(r.by, prev, `id=${i} (${path}) stays on ${prev}`);
        }
      }),
    );
    assert.deepEqual(Object.keys(tally([...owner.values()])).sort(), ['m1', 'm2', 'm3']);
    const none: string[] = [];
    for (let i = 0; i < 45; i++) none.push((await send(p.port, { agent, path: `/same?idx=${i % 2}` })).by);
    assert.deepEqual(Object.keys(tally(none)).sort(), ['m1', 'm2', 'm3'], `no id: spread ${JSON.stringify(tally(none))}`);
  });

  test('hash path: the same path (query ignored) sticks to one server; different paths spread', async (t) => {
    const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
    const p = await proxyFor(t, poolYaml({ pool: 'mgp', balance: 'maglev', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    hash: path'] }));
    const agent = keepAliveAgent(t, 8);
    const owner = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        for (let k = 0; k < 3; k++) {
          const r = await send(p.port, { agent, path: `/items/${i}?v=${k}` });
          const prev = owner.get(String(i));
          if (prev === undefined) owner.set(String(i), r.by);
          else assert.equal(r.by, prev, `/items/${i} stays on ${prev}`);
        }
      }),
    );
    assert.deepEqual(Object.keys(tally([...owner.values()])).sort(), ['m1', 'm2', 'm3']);
  });

  test('hash {cookie: sid}: the same sid sticks to one server; sids spread; no cookie spreads', async (t) => {
    const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
    const p = await proxyFor(
      t,
      poolYaml({ pool: 'mgc', balance: 'maglev', servers: bs.map((b) => ({ name: b.name, port: b.port })), poolLines: ['    hash: { cookie: sid }'] }),
    );
    const agent = keepAliveAgent(t, 8);
    const owner = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const cookies = [`sid=s${i}`, `theme=dark; sid=s${i}`, `sid=s${i}; other=${i}`];
        for (const c of cookies) {
          const r = await send(p.port, { agent, headers: { Cookie: c } });
          const prev = owner.get(String(i));
          if (prev === undefined) owner.set(String(i), r.by);
          else assert.equal(r.by, prev, `sid=s${i} (${c}) stays on ${prev}`);
        }
      }),
    );
    assert.deepEqual(Object.keys(tally([...owner.values()])).sort(), ['m1', 'm2', 'm3']);
    const none: string[] = [];
    for (let i = 0; i < 45; i++) none.push((await send(p.port, { agent, headers: { Cookie: 'theme=dark' } })).by);
    assert.deepEqual(Object.keys(tally(none)).sort(), ['m1', 'm2', 'm3'], `no sid: spread ${JSON.stringify(tally(none))}`);
  });
});

test('maglev: when a server goes down only its keys move, and they come back with it; weights set the shares', async (t) => {
  const bs = await poolBackends(t, ['m1', 'm2', 'm3']);
  const ev = recordEvents(t, 'mgd');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'mgd',
      balance: 'maglev',
      servers: [
        { name: 'm1', port: bs[0]!.port },
        { name: 'm2', port: bs[1]!.port },
        { name: 'm3', port: bs[2]!.port, extra: 'weight: 2' },
      ],
      poolLines: ['    hash: { header: X-User }', '    health: { type: http, interval: 100ms, timeout: 100ms, jitter: 0, fall: 1, rise: 1 }'],
    }),
  );
  const agent = keepAliveAgent(t, 8);
  const KEYS = 200;
  const map = async () => {
    const out = new Map<string, string>();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < KEYS; i += 8) {
          const r = await send(p.port, { agent, headers: { 'X-User': `k${i}` } });
          assert.equal(r.status, 200);
          out.set(`k${i}`, r.by);
        }
      }),
    );
    return out;
  };
  const before = await map();
  const shares = tally([...before.values()]);
  t.diagnostic(`keys per server with weights 1:1:2: ${JSON.stringify(shares)}`);
  assert.ok(shares.m3! > shares.m1! && shares.m3! > shares.m2!, `weight 2 owns more keys: ${JSON.stringify(shares)}`);
  assert.ok(shares.m3! >= KEYS * 0.35 && shares.m3! <= KEYS * 0.65, `m3 about half of the keys: ${JSON.stringify(shares)}`);

  bs[1]!.healthStatus = 503;
  await ev.waitState('m2', 'down', 2000);
  const during = await map();
  for (const [k, owner] of before) {
    if (owner === 'm2') assert.notEqual(during.get(k), 'm2', `${k} left m2`);
    else assert.equal(during.get(k), owner, `${k} stays on ${owner} while m2 is down`);
  }
  bs[1]!.healthStatus = 200;
  await ev.waitState('m2', 'up', 2000);
  const after = await map();
  assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort(), 'the same mapping once m2 is back');
});

/**
 * The admin listener's HTTP layer against a small in-test runtime API: every route, the
 * refusals (400, 401, 403, 404, 405, 413, 415) as JSON, the token (constant-time
 * comparison, file read and trimmed, empty or missing file refused), the dashboard and
 * metrics switches, and that nothing a client sends brings it down.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AdminServer } from '../../src/admin/server.js';
import { bearerMatches, originAllowed, readToken } from '../../src/admin/auth.js';
import { reloadAdmin } from '../../src/admin/lifecycle.js';
import { setupLogging } from '../../src/core/log.js';
import { SCRIPT } from '../../src/admin/dashboard/script.js';
import type { AdminConfig } from '../../src/config/types.js';
import type { ApiResult, RuntimeApi, ServerOperation } from '../../src/runtime/api.js';
import type { StatusReport } from '../../src/runtime/primary.js';
import { adminCall } from '../helpers/admin.js';
import { tempDir } from '../helpers/files.js';
import { rawExchange } from '../helpers/http-client.js';

/** A runtime API that records operations and answers like the real one would. */
class FakeApi implements RuntimeApi {
  ops: ServerOperation[] = [];
  openMetrics: boolean[] = [];
  failNext: Error | null = null;
  status(): StatusReport {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    const server = (name: string, port: number) => ({ name, address: `127.0.0.1:${port}`, weight: 1, state: 'ready' as const, usable: true, healthy: true, reason: 'no checks', slowStart: false, ejected: false, lastCheck: null, history: [], active: 0, total: 3 });
    return {
      pid: 1,
      at: Date.now(),
      source: 'fake.yaml',
      generation: 1,
      memory: { rss: 1, heapUsed: 1, heapTotal: 1, external: 1 },
      workers: [],
      listeners: [{ name: 'www', scheme: 'http' as const, host: '127.0.0.1', port: 8080, accepted: 0, active: 0 }],
      pools: [{ name: 'web', servers: [server('s1', 9001), server('s2', 9002)] }],
      overrides: [],
      bgp: null,
    };
  }
  async operate(op: ServerOperation): Promise<ApiResult> {
    this.ops.push(op);
    if (op.pool !== 'web') return { ok: false, status: 404, message: `no pool named ${op.pool}` };
    if (op.op === 'add' && op.spec.name === 's1') return { ok: false, status: 409, message: 'pool web already has a server named s1' };
    return { ok: true, status: 200, message: `done: ${op.op}`, data: { op: op.op } };
  }
  async metrics(openMetrics: boolean) {
    this.openMetrics.push(openMetrics);
    return openMetrics
      ? { contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8', body: '# EOF\n' }
      : { contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'fulcrum_workers 2\n' };
  }
}

// The audit lines of refused calls are not this test's output.
setupLogging({ level: 'silent', format: 'json' });

const CONFIG: AdminConfig = { host: '127.0.0.1', port: 0, tokenFile: null, dashboard: true, metrics: true };
const S2 = '/api/pools/web/servers/s2';

describe('admin HTTP layer, no token', () => {
  const api = new FakeApi();
  let admin: AdminServer;
  let port: number;
  before(async () => {
    admin = await AdminServer.start(api, CONFIG);
    port = admin.port;
  });
  after(() => admin.stop());

  it('logs where it listens', () => {
    assert.equal(admin.describe(), `admin listening on http://127.0.0.1:${port} (dashboard /, metrics /metrics)`);
  });

  it('GET / is the dashboard, with its script and style from the listener itself', async () => {
    const page = await adminCall(port, 'GET', '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.match(page.body, /<script src="\/dashboard\.js"/);
    assert.doesNotMatch(page.body, /https?:\/\//, 'nothing from the internet');
    assert.match(page.body, /data-token-required="false"/);
    const js = await adminCall(port, 'GET', '/dashboard.js');
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.doesNotThrow(() => new Function(js.body), 'the script parses');
    assert.equal(js.body, SCRIPT);
    const css = await adminCall(port, 'GET', '/dashboard.css');
    assert.match(String(css.headers['content-type']), /^text\/css/);
  });

  it('GET /metrics: Prometheus text, OpenMetrics when asked', async () => {
    const text = await adminCall(port, 'GET', '/metrics');
    assert.equal(text.status, 200);
    assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(text.body, 'fulcrum_workers 2\n');
    const om = await adminCall(port, 'GET', '/metrics', { headers: { Accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' } });
    assert.match(String(om.headers['content-type']), /^application\/openmetrics-text/);
    assert.deepEqual(api.openMetrics.slice(-2), [false, true]);
  });

  it('reads: status, pools, a pool, its servers, a server', async () => {
    const status = await adminCall(port, 'GET', '/api/status');
    assert.equal(status.status, 200);
    assert.equal(status.json!.ok, true);
    assert.equal(status.json!.data.source, 'fake.yaml');
    const pools = await adminCall(port, 'GET', '/api/pools');
    assert.deepEqual(pools.json!.data.map((p: { name: string }) => p.name), ['web']);
    const pool = await adminCall(port, 'GET', '/api/pools/web');
    assert.equal(pool.json!.data.servers.length, 2);
    const servers = await adminCall(port, 'GET', '/api/pools/web/servers');
    assert.equal(servers.json!.data.length, 2);
    const server = await adminCall(port, 'GET', S2);
    assert.equal(server.json!.data.address, '127.0.0.1:9002');
    const head = await adminCall(port, 'HEAD', '/api/status');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('404 for an unknown route, pool or server, as JSON', async () => {
    for (const [path, words] of [['/nope', /no such route: \/nope/], ['/api/pools/nope', /no pool named "nope"/], ['/api/pools/web/servers/s9', /pool web has no server named "s9"/], ['/api/pools/web/servers/s1/nope', /no such route/]] as const) {
      const r = await adminCall(port, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json!.ok, false);
      assert.match(r.json!.message, words);
    }
  });

  it('state, weight, check, add, remove become runtime API operations', async () => {
    api.ops = [];
    const answers = [
      await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' } }),
      await adminCall(port, 'PUT', `${S2}/weight`, { body: { weight: 5 } }),
      await adminCall(port, 'POST', `${S2}/check`),
      await adminCall(port, 'POST', `${S2}/check`, { body: {} }),
      await adminCall(port, 'POST', '/api/pools/web/servers', { body: { name: 's3', host: '127.0.0.1', port: 9003, weight: 2 } }),
      await adminCall(port, 'POST', '/api/pools/web/servers', { body: { name: 's4', host: '127.0.0.1', port: 9004 } }),
      await adminCall(port, 'DELETE', S2),
    ];
    for (const a of answers) assert.equal(a.status, 200, a.body);
    assert.deepEqual(answers[0]!.json, { ok: true, message: 'done: state', data: { op: 'state' } });
    assert.deepEqual(api.ops, [
      { op: 'state', pool: 'web', server: 's2', state: 'drain' },
      { op: 'weight', pool: 'web', server: 's2', weight: 5 },
      { op: 'check', pool: 'web', server: 's2' },
      { op: 'check', pool: 'web', server: 's2' },
      { op: 'add', pool: 'web', spec: { name: 's3', host: '127.0.0.1', port: 9003, weight: 2 } },
      { op: 'add', pool: 'web', spec: { name: 's4', host: '127.0.0.1', port: 9004 } },
      { op: 'remove', pool: 'web', server: 's2' },
    ]);
  });

  it('the runtime API\'s own status passes through (404, 409)', async () => {
    const r = await adminCall(port, 'PUT', '/api/pools/nope/servers/s1/state', { body: { state: 'maint' } });
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { ok: false, message: 'no pool named nope' });
    const taken = await adminCall(port, 'POST', '/api/pools/web/servers', { body: { name: 's1', host: '127.0.0.1', port: 9001 } });
    assert.equal(taken.status, 409);
  });

  it('400 for a body that is not JSON, not an object, or has a bad field', async () => {
    api.ops = [];
    const cases: Array<[string, string, string, RegExp]> = [
      ['PUT', `${S2}/state`, '{"state":', /not JSON/],
      ['PUT', `${S2}/state`, '["drain"]', /expected a JSON object; send e\.g\. \{"state":"drain"\}/],
      ['PUT', `${S2}/state`, '{"state":"paused"}', /state "paused" is not one of ready, drain, maint/],
      ['PUT', `${S2}/state`, '{}', /missing field "state"/],
      ['PUT', `${S2}/state`, '{"state":"drain","why":1}', /unknown field "why"/],
      ['PUT', `${S2}/weight`, '{"weight":"5"}', /field "weight" must be a number, got "5"/],
      ['PUT', `${S2}/weight`, '', /expected a JSON object/],
      ['POST', '/api/pools/web/servers', '{"name":"s3","host":"127.0.0.1"}', /missing field "port"/],
      ['POST', `${S2}/check`, '{"now":true}', /unknown field "now"/],
      ['GET', '/api/pools/%E0%A4%A', '', /badly encoded path segment/],
    ];
    for (const [method, path, raw, words] of cases) {
      const r = await adminCall(port, method, path, { raw });
      assert.equal(r.status, 400, `${method} ${path} ${raw}: ${r.body}`);
      assert.match(r.json!.message, words);
    }
    assert.deepEqual(api.ops, [], 'nothing reached the runtime API');
  });

  it('405 with Allow for a method a route does not take', async () => {
    const cases: Array<[string, string, string]> = [
      ['POST', '/api/status', 'GET, HEAD'],
      ['DELETE', '/api/pools/web', 'GET, HEAD'],
      ['GET', `${S2}/state`, 'PUT'],
      ['PUT', '/api/pools/web/servers', 'GET, HEAD, POST'],
      ['PATCH', S2, 'GET, HEAD, DELETE'],
      ['POST', '/', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await adminCall(port, method, path, { body: {} });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.allow, allow);
      assert.match(r.json!.message, new RegExp(`${method} is not allowed`));
    }
  });

  it('413 for a body over 64 KiB, declared or streamed', async () => {
    const big = JSON.stringify({ state: 'x'.repeat(70 * 1024) });
    const r = await adminCall(port, 'PUT', `${S2}/state`, { raw: big });
    assert.equal(r.status, 413);
    assert.match(r.json!.message, /at most 65536/);
    const chunked = await rawExchange(port, `PUT ${S2}/state HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(70 * 1024).toString(16)}\r\n${'x'.repeat(70 * 1024)}\r\n0\r\n\r\n`);
    assert.equal(chunked.status, 413);
    // a client still sending (the body never ends) hears the 413 too, and the connection closes
    const streaming = await new Promise<string>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(`PUT ${S2}/state HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
        for (let i = 0; i < 9; i++) sock.write(`2000\r\n${'x'.repeat(0x2000)}\r\n`);
      });
      let d = '';
      sock.on('data', (c) => (d += c));
      sock.on('close', () => resolve(d));
      sock.on('error', () => resolve(d));
    });
    assert.match(streaming, /^HTTP\/1\.1 413 /);
    assert.match(streaming, /connection: close/i);
  });

  it('415 for a call that changes state without a JSON content type', async () => {
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded']) {
      const r = await adminCall(port, 'PUT', `${S2}/state`, { raw: '{"state":"drain"}', headers: { 'Content-Type': type } });
      assert.equal(r.status, 415, String(type));
      assert.match(r.json!.message, /Content-Type: application\/json/);
    }
    const ok = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'ready' }, headers: { 'Content-Type': 'Application/JSON; charset=utf-8' } });
    assert.equal(ok.status, 200);
  });

  it('403 for a call that changes state from another origin', async () => {
    const evil = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' }, headers: { Origin: 'http://evil.example' } });
    assert.equal(evil.status, 403);
    assert.match(evil.json!.message, /origin http:\/\/evil\.example is refused/);
    // DNS rebinding: the other site's name in Host too.
    const rebound = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' }, headers: { Origin: `http://evil.example:${port}`, Host: `evil.example:${port}` } });
    assert.equal(rebound.status, 403);
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const own = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' }, headers: { Origin: origin } });
      assert.equal(own.status, 200, origin);
    }
    const read = await adminCall(port, 'GET', '/api/status', { headers: { Origin: 'http://evil.example' } });
    assert.equal(read.status, 200, 'reads are open');
  });

  it('an error inside is a 500, and the listener keeps serving', async () => {
    api.failNext = new Error('boom');
    const r = await adminCall(port, 'GET', '/api/pools');
    assert.equal(r.status, 500);
    assert.match(r.json!.message, /internal error: boom/);
    assert.equal((await adminCall(port, 'GET', '/api/pools')).status, 200);
  });

  it('malformed HTTP gets a 400 and the listener keeps serving', async () => {
    const r = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    assert.equal(r.status, 400);
    const garbage = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('\x00\x01\x02 nonsense\r\n\r\n'));
      let d = '';
      s.on('data', (c) => (d += c));
      s.on('close', () => resolve(d));
      s.on('error', () => resolve(d));
    });
    assert.match(garbage, /^HTTP\/1\.1 400/);
    assert.equal((await adminCall(port, 'GET', '/api/status')).status, 200);
  });
});

describe('admin HTTP layer, with a token', () => {
  const api = new FakeApi();
  let admin: AdminServer;
  let port: number;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir('fulcrum-admin-token-');
    const tokenFile = tmp.write('admin.token', '  s3cret-token\n\n');
    admin = await AdminServer.start(api, { ...CONFIG, tokenFile });
    port = admin.port;
  });
  after(async () => {
    await admin.stop();
    tmp.cleanup();
  });

  it('401 with WWW-Authenticate without the token or with a wrong one; the trimmed token passes', async () => {
    api.ops = [];
    const none = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' } });
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="fulcrum admin"');
    assert.match(none.json!.message, /Authorization: Bearer TOKEN/);
    for (const auth of ['Bearer wrong', 'Bearer s3cret-token2', 'Basic czNjcmV0LXRva2Vu', 's3cret-token', 'Bearer']) {
      const r = await adminCall(port, 'POST', `${S2}/check`, { headers: { Authorization: auth } });
      assert.equal(r.status, 401, auth);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="fulcrum admin", error="invalid_token"');
    }
    for (const [method, path] of [['PUT', `${S2}/weight`], ['POST', '/api/pools/web/servers'], ['DELETE', S2]]) {
      assert.equal((await adminCall(port, method!, path!, { body: {} })).status, 401, `${method} ${path}`);
    }
    assert.deepEqual(api.ops, [], 'nothing reached the runtime API');
    const ok = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' }, token: 's3cret-token' });
    assert.equal(ok.status, 200);
    assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' }, headers: { Authorization: 'bearer   s3cret-token' } })).status, 200);
  });

  it('reads need no token; the page says a token is needed', async () => {
    assert.equal((await adminCall(port, 'GET', '/api/status')).status, 200);
    assert.equal((await adminCall(port, 'GET', '/metrics')).status, 200);
    assert.match((await adminCall(port, 'GET', '/')).body, /data-token-required="true"/);
    assert.match(admin.describe(), /token required to change state/);
  });

  it('with a token, the page\'s own origin as the browser named it is accepted', async () => {
    const r = await adminCall(port, 'POST', `${S2}/check`, { token: 's3cret-token', headers: { Origin: `http://lb1.example:${port}`, Host: `lb1.example:${port}` } });
    assert.equal(r.status, 200);
  });

  it('a reload reads the token file again, at the same address, without a new listener', async () => {
    const tokenFile = tmp.write('admin.token', 'rotated\n');
    const r = await reloadAdmin(admin, api, { ...CONFIG, tokenFile });
    assert.deepEqual([r.admin, r.problem, r.rebound], [admin, null, false]);
    assert.equal((await adminCall(port, 'POST', `${S2}/check`, { token: 's3cret-token' })).status, 401);
    assert.equal((await adminCall(port, 'POST', `${S2}/check`, { token: 'rotated' })).status, 200);
    tmp.write('admin.token', '\n');
    const bad = await reloadAdmin(admin, api, { ...CONFIG, tokenFile });
    assert.match(String(bad.problem), /the token file .* is empty/);
    assert.equal((await adminCall(port, 'POST', `${S2}/check`, { token: 'rotated' })).status, 200, 'a bad token file keeps the running one');
  });
});

describe('admin token and origin rules', () => {
  it('bearerMatches', () => {
    assert.equal(bearerMatches('Bearer abc', 'abc'), true);
    assert.equal(bearerMatches('bearer abc ', 'abc'), true);
    for (const h of [undefined, '', 'Bearer', 'Bearer ab', 'Bearer abcd', 'Bearer abc def', 'Basic abc', 'abc']) assert.equal(bearerMatches(h, 'abc'), false, String(h));
  });

  it('readToken: trimmed; empty, missing or white space inside is a clear error', async (t) => {
    const tmp = tempDir('fulcrum-admin-read-', t);
    assert.equal(await readToken(tmp.write('a', '\n  tok \n')), 'tok');
    await assert.rejects(readToken(tmp.write('b', ' \n')), /admin: the token file .*\/b is empty/);
    await assert.rejects(readToken(tmp.file('none')), /admin: cannot read the token file .*\/none: no such file/);
    await assert.rejects(readToken(tmp.dir), /it is a directory/);
    await assert.rejects(readToken(tmp.write('c', 'two words')), /white space inside the token/);
  });

  it('originAllowed', () => {
    const own = { host: '127.0.0.1', port: 9090 };
    assert.equal(originAllowed(undefined, own, 'x', false), true);
    assert.equal(originAllowed('http://127.0.0.1:9090', own, undefined, false), true);
    assert.equal(originAllowed('http://[::1]:9090', own, undefined, false), true);
    assert.equal(originAllowed('http://127.0.0.1:9091', own, undefined, false), false);
    assert.equal(originAllowed('https://127.0.0.1:9090', own, undefined, false), false);
    assert.equal(originAllowed('null', own, undefined, false), false);
    assert.equal(originAllowed('http://lb:9090', { host: '0.0.0.0', port: 9090 }, 'lb:9090', true), true);
    assert.equal(originAllowed('http://lb:9090', { host: '0.0.0.0', port: 9090 }, 'lb:9090', false), false);
  });

  it('a missing token file stops the start with a clear error', async () => {
    await assert.rejects(AdminServer.start(new FakeApi(), { ...CONFIG, tokenFile: '/nonexistent/admin.token' }), /cannot read the token file \/nonexistent\/admin\.token: no such file/);
  });

  it('an address in use is a clear error', async (t) => {
    const first = await AdminServer.start(new FakeApi(), CONFIG);
    t.after(() => first.stop());
    await assert.rejects(AdminServer.start(new FakeApi(), { ...CONFIG, port: first.port }), new RegExp(`admin: cannot listen on 127\\.0\\.0\\.1:${first.port}: the address is in use`));
  });

  it('dashboard: false and metrics: false leave their routes out', async (t) => {
    const admin = await AdminServer.start(new FakeApi(), { ...CONFIG, dashboard: false, metrics: false });
    t.after(() => admin.stop());
    assert.equal((await adminCall(admin.port, 'GET', '/')).status, 404);
    assert.equal((await adminCall(admin.port, 'GET', '/dashboard.js')).status, 404);
    assert.equal((await adminCall(admin.port, 'GET', '/metrics')).status, 404);
    assert.equal((await adminCall(admin.port, 'GET', '/api/status')).status, 200);
    assert.equal(admin.describe(), `admin listening on http://127.0.0.1:${admin.port}`);
  });

  it('a reload to another address binds it, then closes the old one', async () => {
    const api = new FakeApi();
    const first = await AdminServer.start(api, CONFIG);
    const r = await reloadAdmin(first, api, { ...CONFIG, port: 0, host: '127.0.0.2' });
    try {
      assert.equal(r.rebound, true);
      assert.notEqual(r.admin, first);
      await assert.rejects(adminCall(first.port, 'GET', '/api/status'));
      const gone = await reloadAdmin(r.admin, api, null);
      assert.equal(gone.admin, null);
    } finally {
      await r.admin?.stop();
    }
  });
});

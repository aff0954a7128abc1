/**
 * Request IDs (listener `request_id`), upstream timings and the custom format in the
 * access log, over HTTP/1.1 (node:http) and HTTP/2 (h2c, node:http2) alike, and the
 * JSON process log's ISO time and level names.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { test, type TestContext } from 'node:test';
import { echoBackend, httpBackend, type Echo } from '../helpers/backends.js';
import { closedPort } from '../helpers/ports.js';
import { tempDir } from '../helpers/files.js';
import { h2Request, h2Session, keepAliveAgent, rawExchange, request } from '../helpers/http-client.js';
import { accessLogLines, proxyFor, simpleYaml } from '../helpers/proxies.js';
import { runCli, spawnCli } from '../helpers/spawn.js';
import { waitFor } from '../helpers/wait.js';

const MADE = /^[0-9a-f]{24}$/;

/** A proxy with h2c and a JSON access log in front of `port`, plus `listener` lines. */
async function setup(t: TestContext, port: number, listener: string[] = ['request_id: {}'], log = 'format: json'): Promise<{ port: number; log: string }> {
  const log_ = tempDir('fulcrum-reqid-', t).file('access.log');
  const yaml = simpleYaml([port], { listener: ['    http2: { h2c: true }', `    access_log: { path: "${log_}", ${log} }`, ...listener.map((l) => `    ${l}`)].join('\n') });
  const p = await proxyFor(t, yaml);
  return { port: p.port, log: log_ };
}

/** What the backend and the client saw of one request, over HTTP/1.1 or HTTP/2. */
interface Seen {
  echo: Echo;
  /** The response's request ID header. */
  id: string | undefined;
  headers: Record<string, unknown>;
}

async function h1(port: number, headers: http.OutgoingHttpHeaders = {}, path = '/'): Promise<Seen> {
  const r = await request(port, { path, headers });
  return { echo: JSON.parse(r.body.toString()) as Echo, id: r.headers['x-request-id'] as string | undefined, headers: r.headers };
}

async function h2(t: TestContext, port: number, headers: Record<string, string> = {}, path = '/'): Promise<Seen> {
  const session = await h2Session(t, port, { h2c: true });
  const r = await h2Request(session, { ':path': path, ...headers });
  session.close();
  return { echo: JSON.parse(r.body.toString()) as Echo, id: r.headers['x-request-id'] as string | undefined, headers: r.headers };
}

/** Both protocols, one after the other. */
function both(t: TestContext, port: number, headers: Record<string, string> = {}): Promise<[Seen, Seen]> {
  return h1(port, headers).then(async (a) => [a, await h2(t, port, headers)]);
}

test('each request gets an ID, sent to the server, returned and logged, over HTTP/1.1 and HTTP/2', async (t) => {
  const b = await echoBackend(t, 'S1');
  const p = await setup(t, b.port);
  const seen = await both(t, p.port);
  const lines = (await accessLogLines(p.log, 2)).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const [i, s] of seen.entries()) {
    const sent = s.echo.headers['x-request-id'];
    assert.match(String(sent), MADE);
    assert.equal(s.id, sent, 'the client gets the ID the server got');
    assert.equal(lines[i]!.request_id, sent);
  }
  assert.notEqual(seen[0].id, seen[1].id);
  assert.equal(lines[0]!.version, '1.1');
  assert.equal(lines[1]!.version, '2');
});

test('a trusted client keeps its well-formed ID; a malformed one, or an untrusted client\'s, is replaced', async (t) => {
  const b = await echoBackend(t, 'S1');
  const trusted = await setup(t, b.port, ['request_id: {}', 'forwarded: { trusted: [127.0.0.1] }']);
  for (const s of await both(t, trusted.port, { 'x-request-id': 'client-id-1' })) {
    assert.deepEqual(s.echo.rawHeaders.filter((_v, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'x-request-id'), ['client-id-1']);
    assert.equal(s.id, 'client-id-1');
  }
  for (const bad of ['has space', 'x'.repeat(129)]) {
    for (const s of await both(t, trusted.port, { 'x-request-id': bad })) {
      assert.match(String(s.echo.headers['x-request-id']), MADE, `${bad.slice(0, 20)} is replaced`);
      assert.equal(s.id, s.echo.headers['x-request-id']);
    }
  }
  const untrusted = await setup(t, b.port);
  for (const s of await both(t, untrusted.port, { 'x-request-id': 'client-id-2' })) {
    assert.match(String(s.echo.headers['x-request-id']), MADE, 'one ID, ours');
    assert.equal(s.id, s.echo.headers['x-request-id']);
  }
  const lines = await accessLogLines(trusted.log, 6);
  assert.equal((JSON.parse(lines[0]!) as { request_id: string }).request_id, 'client-id-1');
});

test('request_id: another header, without the response; or off (or absent), the header untouched', async (t) => {
  const b = await echoBackend(t, 'S1');
  const own = await setup(t, b.port, ['request_id: { header: X-Trace-Id, response: false }']);
  for (const s of await both(t, own.port, { 'x-request-id': 'passes' })) {
    assert.match(String(s.echo.headers['x-trace-id']), MADE);
    assert.equal(s.echo.headers['x-request-id'], 'passes');
    assert.equal(s.headers['x-trace-id'], undefined);
  }
  const off = await setup(t, b.port, ['request_id: { enabled: false }']);
  for (const s of await both(t, off.port, { 'x-request-id': 'untouched' })) {
    assert.equal(s.echo.headers['x-request-id'], 'untouched');
    assert.equal(s.id, undefined);
  }
  const line = JSON.parse((await accessLogLines(off.log, 1))[0]!) as { request_id: unknown };
  assert.equal(line.request_id, null);
  // absent: off too (the default, as in HAProxy and nginx)
  const absent = await setup(t, b.port, []);
  for (const s of await both(t, absent.port, { 'x-request-id': 'untouched' })) {
    assert.equal(s.echo.headers['x-request-id'], 'untouched');
    assert.equal(s.id, undefined);
  }
});

test('W3C traceparent and tracestate pass through unchanged', async (t) => {
  const b = await echoBackend(t, 'S1');
  const p = await setup(t, b.port);
  const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' };
  for (const s of await both(t, p.port, trace)) {
    assert.equal(s.echo.headers.traceparent, trace.traceparent);
    assert.equal(s.echo.headers.tracestate, trace.tracestate);
  }
});

test('the access log times the server: connect (0 when reused) and response head, over both protocols', async (t) => {
  const slow = await httpBackend((_req, res) => setTimeout(() => res.end(JSON.stringify({ headers: {}, rawHeaders: [] })), 100));
  t.after(() => slow.close());
  const p = await setup(t, slow.port);
  const agent = keepAliveAgent(t, 1);
  await request(p.port, { agent });
  await request(p.port, { agent });
  await h2(t, p.port);
  const lines = (await accessLogLines(p.log, 3)).map((l) => JSON.parse(l) as Record<string, number>);
  for (const l of lines) {
    assert.ok(l.upstream_response_ms! >= 100, `response head after the server's 100 ms: ${JSON.stringify(l)}`);
    assert.ok(l.upstream_response_ms! <= l.duration_ms! + 1, `within the request's duration: ${JSON.stringify(l)}`);
    assert.ok(l.upstream_connect_ms! >= 0 && l.upstream_connect_ms! <= l.upstream_response_ms!, JSON.stringify(l));
    assert.equal(l.attempts, 1);
  }
  assert.equal(lines[1]!.upstream_connect_ms, 0, 'the second request reused the connection');
});

test('a custom format writes the template, variables filled in', async (t) => {
  const b = await echoBackend(t, 'S1');
  const template = `$remote_addr "$request" $status \${request_id}/$http_x_test $upstream_attempts $listener $server $$5 [$upstream_connect_time]`;
  const p = await setup(t, b.port, ['request_id: {}', 'forwarded: { trusted: [127.0.0.1] }'], `format: custom, template: '${template}'`);
  await h1(p.port, { 'x-request-id': 'id-1', 'x-test': 'say "hi"' }, '/c?x=1');
  await h2(t, p.port, { 'x-request-id': 'id-2' }, '/d');
  const lines = await accessLogLines(p.log, 2);
  assert.match(lines[0]!, /^127\.0\.0\.1 "GET \/c\?x=1 HTTP\/1\.1" 200 id-1\/say \\"hi\\" 1 test web\/S1 \$5 \[\d+\.\d{3}\]$/);
  assert.match(lines[1]!, /^127\.0\.0\.1 "GET \/d HTTP\/2\.0" 200 id-2\/- 1 test web\/S1 \$5 \[\d+\.\d{3}\]$/);
  assert.equal(lines[0]!.replace(/\[[\d.]+\]$/, ''), '127.0.0.1 "GET /c?x=1 HTTP/1.1" 200 id-1/say \\"hi\\" 1 test web/S1 $5 ');
});

test('fulcrum check refuses a template with an unknown variable, naming file, line and key', async (t) => {
  const file = tempDir('fulcrum-reqid-', t).write(
    'bad.yaml',
    simpleYaml([9], { listener: "    access_log: { path: stdout, format: custom, template: '$remote_addr $bytes' }" }),
  );
  const r = await runCli(['check', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad\.yaml:6:\d+: listeners\[0\]\.access_log\.template: unknown variable \$bytes at character 14/);
});

test('JSON process logs carry an ISO 8601 time and the level by name', async (t) => {
  const b = await echoBackend(t, 'S1');
  const file = tempDir('fulcrum-reqid-', t).write('lb.yaml', simpleYaml([b.port], { top: 'logging: { format: json }\nruntime: { workers: 1 }' }));
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  const first = await waitFor(() => cli.stderr().split('\n').find((l) => l.startsWith('{')), 5000, 'a JSON log line');
  const line = JSON.parse(first) as { level: unknown; time: unknown };
  assert.equal(line.level, 'info');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(String(line.time)) - Date.now()) < 60_000);
});

test('our own answers carry the request ID in the header as configured, over HTTP/1.1 and HTTP/2', async (t) => {
  const p = await setup(t, await closedPort(), ['request_id: {}']);
  const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r.status, 503);
  const ids = r.headers.filter(([name]) => name.toLowerCase() === 'x-request-id');
  assert.equal(ids.length, 1);
  assert.equal(ids[0]![0], 'X-Request-ID', 'the configured spelling');
  const session = await h2Session(t, p.port, { h2c: true });
  const h2 = await h2Request(session, { ':path': '/' });
  session.close();
  assert.equal(h2.status, 503);
  assert.match(String(h2.headers['x-request-id']), /^[0-9a-f]{24}$/);
});

/**
 * GET /metrics behind the runtime API: a real primary with two workers and real
 * backends; what the workers counted is summed in one scrape, survives a reload, and
 * the exposition passes `promtool check metrics`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { poolBackends } from '../helpers/backends.js';
import { configOk } from '../helpers/config.js';
import { tempDir } from '../helpers/files.js';
import { request } from '../helpers/http-client.js';
import { find, parseSamples, promtoolCheck, sum } from '../helpers/metrics.js';
import { Primary, setupWorkers } from '../../src/runtime/primary.js';

test('metrics: two workers summed in one scrape, kept across a reload; promtool accepts it; OpenMetrics ends in # EOF', { timeout: 60_000 }, async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  s2!.status = 503;
  const dir = tempDir('fulcrum-metrics-', t);
  const text = `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{ path: /app/, pool: web }]
pools:
  web:
    health: { type: http, interval: 200ms, timeout: 200ms, jitter: 0, http: { path: /health } }
    servers:
      - { name: s1, address: "127.0.0.1:${s1!.port}" }
      - { name: s2, address: "127.0.0.1:${s2!.port}", weight: 3 }
runtime: { workers: 2, control_socket: false }
logging: { level: warn }
`;
  const file = dir.write('fulcrum.yaml', text);
  const config = configOk(text, file);
  setupWorkers([]);
  const primary = new Primary(config, { workers: 2, reload: async () => ({ config: configOk(text, file), issues: [] }) });
  await primary.start();
  t.after(() => primary.stop());
  const port = primary.listeners()[0]!.port;

  // 150 routed (s1 answers 200, s2 503) and 50 without a route (404 of Fulcrum's own),
  // each on its own connection: the kernel spreads them over both workers
  const statuses = new Map<number, number>();
  for (let i = 0; i < 200; i++) {
    const r = await request(port, { path: i % 4 === 3 ? `/none/${i}` : `/app/${i}`, headers: { connection: 'close' } });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  assert.equal(statuses.get(404), 50);
  assert.equal((statuses.get(200) ?? 0) + (statuses.get(503) ?? 0), 150);

  const scrape = await primary.metrics(false);
  assert.equal(scrape.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  const m = parseSamples(scrape.body);
  assert.equal(sum(m, 'fulcrum_workers'), 2);
  assert.equal(find(m, 'fulcrum_process_cpu_seconds_total').length, 3, 'the primary and both workers');
  assert.equal(sum(m, 'fulcrum_listener_connections_total', { listener: 'www' }), 200);
  assert.equal(sum(m, 'fulcrum_listener_requests_total', { listener: 'www' }), 200);
  assert.equal(sum(m, 'fulcrum_listener_requests_total', { code_class: '2xx' }), statuses.get(200) ?? 0);
  assert.equal(sum(m, 'fulcrum_listener_requests_total', { code_class: '4xx' }), 50);
  assert.equal(sum(m, 'fulcrum_listener_requests_total', { code_class: '5xx' }), statuses.get(503) ?? 0);
  assert.equal(sum(m, 'fulcrum_server_requests_total'), 150);
  assert.equal(sum(m, 'fulcrum_server_requests_total', { server: 's1' }), s1!.seen.length);
  assert.equal(sum(m, 'fulcrum_server_requests_total', { server: 's2' }), s2!.seen.length);
  assert.equal(sum(m, 'fulcrum_server_errors_total', { server: 's2', kind: '5xx' }), s2!.seen.length);
  assert.equal(sum(m, 'fulcrum_server_errors_total', { server: 's1' }), 0);
  for (const server of ['s1', 's2']) {
    const count = sum(m, 'fulcrum_server_response_seconds_count', { server });
    assert.equal(count, sum(m, 'fulcrum_server_requests_total', { server }), `${server}: one observation per request`);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_bucket', { server, le: '+Inf' }), count);
  }
  assert.equal(sum(m, 'fulcrum_server_weight', { server: 's2' }), 3);
  assert.equal(sum(m, 'fulcrum_server_up'), 2);
  assert.equal(sum(m, 'fulcrum_server_state', { server: 's1', state: 'ready' }), 1);
  assert.equal(sum(m, 'fulcrum_server_active'), 0);
  assert.ok(sum(m, 'fulcrum_health_checks_total', { server: 's1', result: 'pass' }) >= 1, 'active checks are counted');
  assert.equal(sum(m, 'fulcrum_info'), 1);

  const check = promtoolCheck(scrape.body);
  if (check === null) t.diagnostic('promtool is not installed: not checked');
  else assert.deepEqual(check, { code: 0, output: '' }, `promtool check metrics:\n${check.output}`);

  const om = await primary.metrics(true);
  assert.match(om.contentType, /^application\/openmetrics-text; version=1\.0\.0/);
  assert.ok(om.body.endsWith('# EOF\n'));
  assert.match(om.body, /^# TYPE fulcrum_server_requests counter$/m);
  assert.match(om.body, /^fulcrum_server_requests_total\{pool="web",server="s1"\} \d+$/m);

  // a reload replaces both workers: what the old ones counted stays in the totals
  const answer = await primary.reload();
  assert.ok(answer.ok, answer.message);
  for (let i = 0; i < 20; i++) await request(port, { path: `/app/after/${i}`, headers: { connection: 'close' } });
  const after = parseSamples((await primary.metrics(false)).body);
  assert.equal(sum(after, 'fulcrum_listener_connections_total', { listener: 'www' }), 220);
  assert.equal(sum(after, 'fulcrum_server_requests_total'), 170);
  assert.equal(sum(after, 'fulcrum_server_response_seconds_count'), 170);
  assert.equal(sum(after, 'fulcrum_reloads_total', { result: 'ok' }), 1);
});

/**
 * Metrics without processes: worker snapshots summed by the primary's hub (two workers,
 * one of them exited), the primary's own counts, the exposition in both formats, and
 * promtool's opinion of it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { healthCheckChannel, type HealthCheckEvent } from '../../src/core/events.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { encodeQuery } from '../../src/dns/message.js';
import { Responder } from '../../src/dns/responder.js';
import { TYPE } from '../../src/dns/wire.js';
import { DnsTally } from '../../src/metrics/dns-tally.js';
import { MetricsHub, type PrimaryView } from '../../src/metrics/hub.js';
import { publishVrrpEvent } from '../../src/vrrp/events.js';
import { bucketOf, RESPONSE_BUCKETS } from '../../src/metrics/server-stats.js';
import type { ServerSnapshot, WorkerMetrics } from '../../src/metrics/snapshot.js';
import { find, parseSamples, promtoolCheck, sum } from '../helpers/metrics.js';

function server(name: string, over: Partial<ServerSnapshot> = {}): ServerSnapshot {
  const buckets = new Array<number>(RESPONSE_BUCKETS.length + 1).fill(0);
  return { pool: 'web', server: name, total: 0, active: 0, errors: [0, 0, 0, 0], retries: 0, buckets, sum: 0, ejected: false, ...over };
}

function worker(over: { accepted: number; active: number; classes: number[]; s1: Partial<ServerSnapshot>; s2?: Partial<ServerSnapshot> }): WorkerMetrics {
  return {
    listeners: [
      { name: 'www', accepted: over.accepted, active: over.active, classes: over.classes },
      { name: 'raw', accepted: 1, active: 1, classes: null },
    ],
    pools: [{ name: 'web', queued: 1 }],
    servers: [server('s1', over.s1), server('s2', over.s2)],
    cpuSeconds: 1.5,
    rss: 1000,
  };
}

const bucketsWith = (at: Record<number, number>) => Array.from({ length: RESPONSE_BUCKETS.length + 1 }, (_, i) => at[i] ?? 0);

const view = (over: Partial<PrimaryView> = {}): PrimaryView => ({
  pools: [new Pool(poolConfig('web', [{ name: 's1', host: '192.0.2.1' }, { name: 's2', host: '192.0.2.2', weight: 5 }]))],
  vrrp: [{ name: 'vi1', state: 'master' }],
  bgp: {
    asn: 65001,
    routerId: '192.0.2.10',
    sessions: [{ peer: 'r1', address: '192.0.2.1', asn: 65000, state: 'established', since: 1, lastError: '', bfd: 'up', counts: { updatesSent: 3, updatesReceived: 0, notificationsSent: 0, notificationsReceived: 1, established: 2 } }],
    routes: [{ prefix: '203.0.113.10/32', announced: true, why: 'always announced', since: 1 }],
  },
  workers: 2,
  dataplane: [{ service: 'vip', server: 's1', packets: 10, bytes: 1500 }],
  ...over,
});

describe('metrics', () => {
  const hubs: MetricsHub[] = [];
  const hub = () => {
    const h = new MetricsHub(false);
    hubs.push(h);
    return h;
  };
  after(() => hubs.forEach((h) => h.close()));

  it('buckets: a time on a bound counts in that bound', () => {
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(0.001), 0);
    assert.equal(bucketOf(0.0011), 1);
    assert.equal(bucketOf(10), RESPONSE_BUCKETS.length - 1);
    assert.equal(bucketOf(11), RESPONSE_BUCKETS.length);
  });

  it('sums two workers: counters, gauges, histograms; max of ejected; per-process series apart', async () => {
    const h = hub();
    h.accept(1, worker({ accepted: 10, active: 2, classes: [0, 7, 0, 2, 1], s1: { total: 6, active: 1, errors: [1, 0, 0, 1], retries: 1, buckets: bucketsWith({ 0: 4, 3: 2 }), sum: 0.02, ejected: true } }));
    h.accept(2, worker({ accepted: 5, active: 1, classes: [0, 4, 1, 0, 0], s1: { total: 3, active: 0, buckets: bucketsWith({ 13: 3 }), sum: 40 } }));
    const text = (await h.exposition(view(), false)).body;
    const m = parseSamples(text);
    assert.equal(sum(m, 'fulcrum_listener_connections_total', { listener: 'www' }), 15);
    assert.equal(sum(m, 'fulcrum_listener_connections', { listener: 'www' }), 3);
    assert.equal(sum(m, 'fulcrum_listener_requests_total', { listener: 'www', code_class: '2xx' }), 11);
    assert.equal(sum(m, 'fulcrum_listener_requests_total', { listener: 'www', code_class: '4xx' }), 2);
    assert.equal(find(m, 'fulcrum_listener_requests_total', { listener: 'raw' }).length, 0, 'no status classes for a TCP listener');
    assert.equal(sum(m, 'fulcrum_server_requests_total', { server: 's1' }), 9);
    assert.equal(sum(m, 'fulcrum_server_errors_total', { server: 's1', kind: 'connect' }), 1);
    assert.equal(sum(m, 'fulcrum_server_errors_total', { server: 's1', kind: '5xx' }), 1);
    assert.equal(sum(m, 'fulcrum_server_retries_total', { server: 's1' }), 1);
    assert.equal(sum(m, 'fulcrum_server_active', { server: 's1' }), 1);
    assert.equal(sum(m, 'fulcrum_pool_queued', { pool: 'web' }), 2);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_bucket', { server: 's1', le: '0.001' }), 4);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_bucket', { server: 's1', le: '0.01' }), 6);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_bucket', { server: 's1', le: '10' }), 6);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_bucket', { server: 's1', le: '+Inf' }), 9);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_count', { server: 's1' }), 9);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_sum', { server: 's1' }), 40.02);
    assert.deepEqual(find(m, 'fulcrum_server_ejected').map((s) => [s.labels.server, s.value]), [['s1', 1], ['s2', 0]]);
    assert.deepEqual(find(m, 'fulcrum_process_cpu_seconds_total').map((s) => s.labels.process).sort(), ['primary', 'worker-1', 'worker-2']);
    // the primary's own
    assert.equal(sum(m, 'fulcrum_server_weight', { server: 's2' }), 5);
    assert.equal(sum(m, 'fulcrum_server_up'), 2);
    assert.deepEqual(find(m, 'fulcrum_server_state', { server: 's1' }).map((s) => [s.labels.state, s.value]), [['ready', 1], ['drain', 0], ['maint', 0]]);
    assert.equal(sum(m, 'fulcrum_vrrp_state', { instance: 'vi1', state: 'master' }), 1);
    assert.equal(sum(m, 'fulcrum_vrrp_state', { instance: 'vi1' }), 1);
    assert.equal(sum(m, 'fulcrum_dataplane_bytes_total', { service: 'vip', server: 's1' }), 1500);
    assert.equal(sum(m, 'fulcrum_workers'), 2);
    assert.equal(sum(m, 'fulcrum_info'), 1);
  });

  it('an exited worker\'s counters stay (its gauges go); a report after the exit is ignored', async () => {
    const h = hub();
    h.accept(1, worker({ accepted: 10, active: 2, classes: [0, 10, 0, 0, 0], s1: { total: 6, active: 1, buckets: bucketsWith({ 0: 6 }), sum: 0.003 } }));
    h.accept(2, worker({ accepted: 5, active: 1, classes: [0, 5, 0, 0, 0], s1: { total: 3, active: 1, buckets: bucketsWith({ 0: 3 }), sum: 0.001 } }));
    h.retire(1);
    h.accept(1, worker({ accepted: 99, active: 9, classes: [0, 99, 0, 0, 0], s1: { total: 99 } }));
    h.accept(3, worker({ accepted: 1, active: 1, classes: [0, 1, 0, 0, 0], s1: { total: 1, active: 1, buckets: bucketsWith({ 0: 1 }) } }));
    const m = parseSamples((await h.exposition(view(), false)).body);
    assert.equal(sum(m, 'fulcrum_listener_connections_total', { listener: 'www' }), 16);
    assert.equal(sum(m, 'fulcrum_listener_connections', { listener: 'www' }), 2);
    assert.equal(sum(m, 'fulcrum_listener_requests_total', { code_class: '2xx' }), 16);
    assert.equal(sum(m, 'fulcrum_server_requests_total', { server: 's1' }), 10);
    assert.equal(sum(m, 'fulcrum_server_active', { server: 's1' }), 2);
    assert.equal(sum(m, 'fulcrum_server_response_seconds_count', { server: 's1' }), 10);
    assert.deepEqual(find(m, 'fulcrum_process_cpu_seconds_total').map((s) => s.labels.process).sort(), ['primary', 'worker-2', 'worker-3']);
    // and again, after the other one exits too
    h.retire(2);
    h.retire(3);
    const m2 = parseSamples((await h.exposition(view(), false)).body);
    assert.equal(sum(m2, 'fulcrum_server_requests_total', { server: 's1' }), 10);
    assert.equal(sum(m2, 'fulcrum_listener_connections', { listener: 'www' }), 0);
  });

  it('counts health checks, ejections, reloads and VRRP transitions in the primary', async () => {
    const h = hub();
    const check = (ok: boolean, seconds: number) => healthCheckChannel.publish({ pool: 'web', server: 's1', ok, seconds } satisfies HealthCheckEvent);
    check(true, 0.002);
    check(false, 0.3);
    h.ejected('web', 's2');
    h.ejected('web', 's2');
    h.ejected('web', 'gone'); // no longer in the configuration: its total stays
    h.reloaded(true);
    h.reloaded(false);
    h.reloaded(false);
    publishVrrpEvent({ instance: 'vi1', kind: 'state', from: 'backup', to: 'master', priority: 100, reason: 'test' });
    publishVrrpEvent({ instance: 'vi1', kind: 'priority', from: 'master', to: 'master', priority: 90, reason: 'test' });
    const m = parseSamples((await h.exposition(view(), false)).body);
    assert.equal(sum(m, 'fulcrum_health_checks_total', { server: 's1', result: 'pass' }), 1);
    assert.equal(sum(m, 'fulcrum_health_checks_total', { server: 's1', result: 'fail' }), 1);
    assert.equal(sum(m, 'fulcrum_health_check_duration_seconds_bucket', { server: 's1', le: '0.0025' }), 1);
    assert.equal(sum(m, 'fulcrum_health_check_duration_seconds_count', { server: 's1' }), 2);
    assert.equal(sum(m, 'fulcrum_server_ejections_total', { server: 's2' }), 2);
    assert.equal(sum(m, 'fulcrum_server_ejections_total', { server: 's1' }), 0);
    assert.deepEqual(find(m, 'fulcrum_server_ejections_total', { server: 'gone' }).map((x) => x.value), [1]);
    assert.equal(sum(m, 'fulcrum_reloads_total', { result: 'ok' }), 1);
    assert.equal(sum(m, 'fulcrum_reloads_total', { result: 'failed' }), 2);
    assert.equal(sum(m, 'fulcrum_vrrp_transitions_total', { instance: 'vi1' }), 1);
  });

  it('DNS answers by zone, name and rcode; names the zone does not have count as ""', async () => {
    const tally = new DnsTally();
    const zone = zoneConfig('example.com', { pools: [poolName('www.example.com', 'web')] });
    const pools = new Map([['web', new Pool(poolConfig('web', [{ name: 's1', host: '192.0.2.1' }]))]]);
    const responder = new Responder(dnsConfig([], [zone]), pools, { tally, watch: false });
    const ask = (name: string) => responder.respond(encodeQuery({ name, type: TYPE.A }), '192.0.2.99', 'udp');
    ask('www.example.com');
    ask('WWW.example.com');
    ask('nothing-here.example.com');
    ask('other.test');
    const h = hub();
    const m = parseSamples((await h.exposition(view(), false)).body);
    assert.equal(find(m, 'fulcrum_dns_queries_total').length, 0, 'the hub has its own tally');
    const counts = [...tally.counts()].map((c) => `${c.zone}|${c.name}|${c.rcode}=${c.count}`);
    assert.deepEqual(counts.sort(), ['example.com.|www.example.com.|noerror=2', 'example.com.||nxdomain=1', '||refused=1'].sort());
    h.dns.row('example.com.', 'www.example.com.')[0] = 3;
    const m2 = parseSamples((await h.exposition(view(), false)).body);
    assert.equal(sum(m2, 'fulcrum_dns_queries_total', { zone: 'example.com.', name: 'www.example.com.', rcode: 'noerror' }), 3);
  });

  it('promtool accepts the text format; OpenMetrics names counters without _total and ends in # EOF', async (t) => {
    const h = hub();
    h.accept(1, worker({ accepted: 10, active: 2, classes: [0, 7, 0, 2, 1], s1: { total: 6, buckets: bucketsWith({ 0: 6 }), sum: 0.003 } }));
    h.dns.row('example.com.', 'a "quoted" \\ name\n')[3] = 1;
    const prom = await h.exposition(view(), false);
    assert.equal(prom.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    const check = promtoolCheck(prom.body);
    if (check === null) t.diagnostic('promtool is not installed: not checked');
    else assert.deepEqual(check, { code: 0, output: '' }, `promtool check metrics:\n${check.output}`);

    assert.match(prom.body, /^fulcrum_bgp_session_up\{peer="r1"\} 1$/m);
    assert.match(prom.body, /^fulcrum_bgp_bfd_up\{peer="r1"\} 1$/m);
    assert.match(prom.body, /^fulcrum_bgp_notifications_total\{peer="r1",direction="received"\} 1$/m);
    assert.match(prom.body, /^fulcrum_bgp_route_announced\{prefix="203\.0\.113\.10\/32"\} 1$/m);

    const om = await h.exposition(view(), true);
    assert.equal(om.contentType, 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok(om.body.endsWith('\n# EOF\n'));
    assert.match(om.body, /^# TYPE fulcrum_server_requests counter\nfulcrum_server_requests_total\{pool="web",server="s1"\} 6$/m);
    // its OpenMetrics family name would be the gauge's: written as unknown under its full name
    assert.match(om.body, /^# TYPE fulcrum_listener_connections_total unknown\nfulcrum_listener_connections_total\{listener="www"\} 10$/m);
    assert.match(om.body, /^# TYPE fulcrum_listener_connections gauge$/m);
    const types = [...om.body.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]);
    assert.equal(new Set(types).size, types.length, 'one family per name');
  });
});

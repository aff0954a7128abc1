import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configIssues, configOk } from '../helpers/config.js';

const FILE = 'h2.yaml';

/** Lines 1..7: a listener of `mode` routing to pool `web`, then `web:` itself; `lines` follow from line 8, keys at column 5. */
function file(mode: string, ...lines: string[]): string {
  return `listeners:
  - name: www
    mode: ${mode}
    bind: :8080
    routes: [{pool: web}]
pools:
  web:
${lines.map((l) => `    ${l}\n`).join('')}`;
}

const SERVERS = ['servers: [{address: "192.0.2.11:50051"}, {address: "192.0.2.12:50051"}]'];

describe('pools: protocol and http2', () => {
  it('defaults to HTTP/1.1 with 100 streams and a 30 s ping', () => {
    const pool = configOk(file('http', ...SERVERS), FILE).pools.get('web')!;
    assert.equal(pool.protocol, 'http1');
    assert.deepEqual(pool.http2, { maxStreams: 100, pingIntervalMs: 30_000 });
  });

  it('takes h2c, and h2 with tls, with their settings', () => {
    const h2c = configOk(file('http', 'protocol: h2c', 'http2: {max_streams: 8, ping_interval: 0}', ...SERVERS), FILE).pools.get('web')!;
    assert.equal(h2c.protocol, 'h2c');
    assert.deepEqual(h2c.http2, { maxStreams: 8, pingIntervalMs: 0 });
    const h2 = configOk(file('http', 'protocol: h2', 'tls: {verify: false}', ...SERVERS), FILE).pools.get('web')!;
    assert.equal(h2.protocol, 'h2');
    assert.equal(h2.tls?.verify, false);
  });

  it('refuses h2 without tls and h2c with it, at the protocol', () => {
    assert.deepEqual(configIssues(file('http', 'protocol: h2', ...SERVERS), FILE), [
      '8:15 pools.web.protocol: protocol h2 is HTTP/2 over TLS, chosen by ALPN, and this pool has no `tls`: add `tls` (e.g. `tls: {verify: false}` for self-signed servers), or use `protocol: h2c` for HTTP/2 over plain TCP',
    ]);
    assert.deepEqual(configIssues(file('http', 'protocol: h2c', 'tls: true', ...SERVERS), FILE), [
      '8:15 pools.web.protocol: protocol h2c is HTTP/2 over plain TCP, and this pool has `tls`: use `protocol: h2` for HTTP/2 over TLS, or remove `tls`',
    ]);
  });

  it('refuses an unknown protocol, send_proxy on shared connections and http2 on an HTTP/1.1 pool', () => {
    const bad = configIssues(file('http', 'protocol: http2', ...SERVERS), FILE);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^8:15 pools\.web\.protocol: .*http1.*h2c.*h2/);
    assert.deepEqual(configIssues(file('http', 'protocol: h2c', 'send_proxy: v2', ...SERVERS), FILE), [
      "9:5 pools.web.send_proxy: a PROXY header names one client per connection, and protocol h2c carries many clients' requests on each connection: remove `send_proxy`, or use `protocol: http1`",
    ]);
    assert.deepEqual(configIssues(file('http', 'http2: {max_streams: 10}', ...SERVERS), FILE), [
      '8:5 pools.web.http2: `http2` sets up HTTP/2 connections to the servers, and this pool speaks HTTP/1.1 (the default protocol): set `protocol: h2c` or `h2`, or remove `http2`',
    ]);
    const zero = configIssues(file('http', 'protocol: h2c', 'http2: {max_streams: 0}', ...SERVERS), FILE);
    assert.equal(zero.length, 1);
    assert.match(zero[0]!, /^9:26 pools\.web\.http2\.max_streams: /);
  });

  it('refuses an HTTP/2 pool behind a tcp listener', () => {
    assert.deepEqual(configIssues(file('tcp', 'protocol: h2c', ...SERVERS), FILE), [
      '8:15 pools.web.protocol: pool `web` is used by listener `www` (mode: tcp, listeners[0].routes[0]), which relays bytes without reading HTTP; protocol h2c is for pools of mode http listeners: remove `protocol`, or give that listener its own pool',
    ]);
  });

  it('takes gRPC health checks on HTTP/2 pools only, and grpc settings with them only', () => {
    const pool = configOk(file('http', 'protocol: h2c', 'health: {type: grpc, grpc: {service: echo}}', ...SERVERS), FILE).pools.get('web')!;
    assert.deepEqual(pool.health?.grpc, { service: 'echo' });
    assert.deepEqual(configIssues(file('http', 'health: {type: grpc}', ...SERVERS), FILE), [
      '8:20 pools.web.health.type: gRPC health checks go over HTTP/2, and this pool speaks HTTP/1.1 (the default protocol): set `protocol: h2c` or `h2` on the pool, or check with type http or tcp',
    ]);
    assert.deepEqual(configIssues(file('http', 'protocol: h2c', 'health: {type: http, grpc: {service: x}}', ...SERVERS), FILE), [
      '9:26 pools.web.health.grpc: `grpc` settings apply only to type: grpc checks, and this check is type: http: remove `grpc` or set `type: grpc`',
    ]);
  });
});

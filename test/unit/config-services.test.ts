import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Config } from '../../src/config/types.js';
import { configOk, configIssues } from '../helpers/config.js';

const FILE = 'services.yaml';

const ok = (text: string): Config => configOk(text, FILE);

/** Every issue as "LINE:COLUMN PATH: MESSAGE". */
const issues = (text: string): string[] => configIssues(text, FILE);

/**
 * One service (line 2 `- name: www`, its keys from line 3 at column 5: the given lines)
 * over pool `web` with the given server lines (each a flow mapping).
 */
function service(lines: string[], servers = ['{name: s1, address: "192.0.2.11:80"}', '{name: s2, address: "192.0.2.12:80"}']): string {
  return ['services:', '  - name: www', ...lines.map((l) => `    ${l}`), 'pools:', '  web:', '    servers:', ...servers.map((s) => `      - ${s}`), ''].join('\n');
}

const BASE = ['vip: 203.0.113.10', 'port: 80', 'mode: nat', 'pool: web'];

describe('services: defaults and normal forms', () => {
  it('fills every default of a nat service and needs no listeners', () => {
    const config = ok(service(BASE));
    assert.deepEqual(config.listeners, []);
    assert.deepEqual(config.services, [
      { name: 'www', vip: '203.0.113.10', ports: [80], protocol: 'tcp', mode: 'nat', pool: 'web', interface: null, snat: null, hash: 'flow', tableSize: 1031, drainMs: 10_000 },
    ]);
  });

  it('reads every key of a dsr service, sorts ports, and sizes the table by the pool', () => {
    const servers = Array.from({ length: 12 }, (_, i) => `{name: s${i}, address: "192.0.2.${20 + i}:443"}`);
    const config = ok(service(['vip: 203.0.113.10', 'port: [443, 80]', 'protocol: tcp', 'mode: dsr', 'pool: web', 'interface: eth0', 'hash: client'], [...servers, '{address: "192.0.2.99:80"}']));
    const s = config.services[0]!;
    assert.deepEqual(s.ports, [80, 443]);
    assert.equal(s.mode, 'dsr');
    assert.equal(s.interface, 'eth0');
    assert.equal(s.hash, 'client');
    assert.equal(s.tableSize, 4099, '13 servers need more than 1300 entries');
  });

  it('reads snat as false, true (masquerade) or an address, and a custom table size and drain time', () => {
    assert.equal(ok(service([...BASE, 'snat: false'])).services[0]!.snat, null);
    assert.equal(ok(service([...BASE, 'snat: true'])).services[0]!.snat, 'masquerade');
    const s = ok(service([...BASE, 'snat: 192.0.2.1', 'table_size: 65537', 'drain_time: 1500ms', 'protocol: udp'])).services[0]!;
    assert.equal(s.snat, '192.0.2.1');
    assert.equal(s.tableSize, 65537);
    assert.equal(s.drainMs, 1500);
    assert.equal(s.protocol, 'udp');
  });
});

describe('services: refused with file position and key path', () => {
  it('bad field values', () => {
    assert.deepEqual(issues(service(['vip: "2001:db8::1"', 'port: 80', 'mode: nat', 'pool: web'])), [
      '3:10 services[0].vip: 2001:db8::1: the kernel data plane handles IPv4 virtual services only; give an IPv4 address',
    ]);
    assert.deepEqual(issues(service(['vip: 203.0.113.10:80', 'port: 80', 'mode: nat', 'pool: web'])), [
      '3:10 services[0].vip: "203.0.113.10:80" is not an IPv4 address such as "203.0.113.10" (no port: put it in `port`)',
    ]);
    assert.deepEqual(issues(service(['vip: 203.0.113.10', 'port: [80, 0, 80]', 'mode: nat', 'pool: web'])), [
      '4:16 services[0].port[1]: expected a port from 1 to 65535, got 0',
      '4:19 services[0].port[2]: port 80 is listed twice',
    ]);
    assert.deepEqual(issues(service([...BASE.slice(0, 2), 'mode: lvs', 'pool: web'])), ['5:11 services[0].mode: expected one of `nat`, `dsr`, got the string "lvs"']);
    assert.deepEqual(issues(service([...BASE, 'table_size: 1000'])), [
      '7:17 services[0].table_size: 1000 is not a prime, and a Maglev table needs a prime size so every server\'s permutation reaches every entry: use 1009',
    ]);
    assert.deepEqual(issues(service([...BASE, 'interface: "a very long name"'])), [
      '7:16 services[0].interface: "a very long name" is not an interface name: 1 to 15 characters without spaces, "/" or ":" (see `ip link`)',
    ]);
    assert.deepEqual(issues(service([...BASE, 'snat: yes please'])), [
      '7:11 services[0].snat: expected false (servers route replies through the balancer), true (the balancer\'s address towards the server) or an IPv4 address, got the string "yes please"',
    ]);
    assert.deepEqual(issues(service([...BASE, 'prot: udp'])), ['7:5 services[0].prot: unknown key `prot`; did you mean `port`?']);
    assert.deepEqual(issues(service(BASE.slice(1))), ['2:5 services[0].vip: missing required key `vip`']);
  });

  it('keys of the other mode, and dsr without an interface', () => {
    assert.deepEqual(issues(service(['vip: 203.0.113.10', 'port: 80', 'mode: dsr', 'pool: web', 'snat: true', 'drain_time: 1s'])), [
      '5:11 services[0].mode: mode: dsr needs `interface`: the interface the clients\' packets arrive on, where the servers are on the same link (e.g. `interface: eth0`)',
      '7:5 services[0].snat: in mode: dsr the balancer never sees the replies, so it cannot rewrite sources: remove `snat` (or use mode: nat)',
      '8:5 services[0].drain_time: mode: dsr keeps no connection state on the balancer, so there is nothing to drain: remove `drain_time`',
    ]);
  });

  it('pools that the kernel cannot use', () => {
    assert.deepEqual(issues(service([...BASE.slice(0, 3), 'pool: wbe'])), ['6:11 services[0].pool: no pool named `wbe`; did you mean `web`?']);
    assert.deepEqual(issues(service(BASE, ['{name: s1, address: "web1.internal:80"}'])), [
      '6:11 services[0].pool: server `s1` of pool `web` (web1.internal:80) is not an IPv4 address: the kernel data plane sends packets to IPv4 addresses only, so write the server\'s address',
    ]);
    assert.deepEqual(issues(service(BASE, ['{name: s1, address: "203.0.113.10:80"}'])), [
      '6:11 services[0].pool: server `s1` of pool `web` (203.0.113.10:80) is the service\'s own VIP: the kernel would send the packets back to the balancer; give the server\'s real address',
    ]);
    const dsr = ['vip: 203.0.113.10', 'port: 80', 'mode: dsr', 'pool: web', 'interface: eth0'];
    assert.deepEqual(issues(service(dsr, ['{name: s1, address: "192.0.2.11:8080"}'])), [
      '6:11 services[0].pool: server `s1` of pool `web` (192.0.2.11:8080) listens on port 8080, not one of the service\'s ports (80): in mode: dsr the packets reach the server unchanged, so it must listen on the port the client used (the server\'s port is used for health checks)',
    ]);
    // nat with one port may translate it; with several it keeps the port
    ok(service(BASE, ['{name: s1, address: "192.0.2.11:8080"}']));
    assert.equal(issues(service(['vip: 203.0.113.10', 'port: [80, 443]', 'mode: nat', 'pool: web'], ['{name: s1, address: "192.0.2.11:8080"}'])).length, 1);
    const proxied = service(BASE).replace('    servers:', '    send_proxy: v2\n    servers:');
    assert.match(issues(proxied)[0]!, /^6:11 services\[0\]\.pool: pool `web` sends a PROXY protocol header/);
  });

  it('two services, or a service and a listener, taking the same packets; duplicate names', () => {
    const text = [
      'listeners:',
      '  - {name: l, bind: "203.0.113.10:443", mode: tcp, routes: [{pool: web}]}',
      'services:',
      '  - {name: a, vip: 203.0.113.10, port: [80, 443], mode: nat, pool: web}',
      '  - {name: a, vip: 203.0.113.10, port: 80, mode: nat, pool: web}',
      '  - {name: c, vip: 203.0.113.10, port: 80, protocol: udp, mode: nat, pool: web}',
      'pools:',
      '  web: {servers: [{address: "192.0.2.11:80"}]}',
      '',
    ].join('\n');
    assert.deepEqual(issues(text), [
      '4:40 services[0].port: listeners[0] binds 203.0.113.10:443, and this service takes the same packets before they reach it (the kernel rewrites them on arrival): give one of them another address or port',
      '5:12 services[1].name: duplicate service name `a`: services[0] already uses it',
      '5:40 services[1].port: 203.0.113.10 tcp/80 is already taken by services[0] (203.0.113.10 tcp/80,443): a packet can go to one service only',
    ]);
  });

  it('a file with services still needs its pools', () => {
    assert.deepEqual(issues('services:\n  - {name: a, vip: 203.0.113.10, port: 80, mode: nat, pool: web}\n'), ['1:1 pools: missing required key `pools` (the services name pools)']);
  });
});

/**
 * The pure parts of the kernel data plane: the flow hash, desired state, the renderer and
 * the reader of live rules. The kernel itself checks them in test/privileged/.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Server } from '../../src/backend/server.js';
import type { VirtualServiceConfig } from '../../src/config/services/parse.js';
import { neighbourKey, serviceState, type LinkFacts } from '../../src/dataplane/desired.js';
import { flowKey, flowSlot, jhash, scale } from '../../src/dataplane/jhash.js';
import { parseLive, tableShares, whichTarget } from '../../src/dataplane/live.js';
import { normalizeObjects, renderObjects, renderRemoval, renderTransaction, type NftObject } from '../../src/dataplane/render.js';
import { HASH_SEED } from '../../src/dataplane/state.js';

function svc(over: Partial<VirtualServiceConfig> = {}): VirtualServiceConfig {
  return { name: 'www', vip: '203.0.113.10', ports: [80], protocol: 'tcp', mode: 'nat', pool: 'web', interface: null, snat: null, hash: 'flow', tableSize: 1031, drainMs: 1000, ...over };
}

function server(name: string, host: string, port = 80, weight = 1): Server {
  return { name, host, port, weight, effectiveWeight: weight } as Server;
}

/** The objects that move packets: without the per-server counters, chain `forward` and the counting rules. */
function moving(objects: NftObject[]): NftObject[] {
  return objects.filter((o) => {
    if ('counter' in o) return false;
    if ('chain' in o) return (o.chain as { name: string }).name !== 'forward';
    if ('rule' in o) return !(o.rule as { comment: string }).comment.startsWith('fulcrum counter ');
    return true;
  });
}

const S1 = server('s1', '192.0.2.11');
const S2 = server('s2', '192.0.2.12');
const LINKS: LinkFacts = {
  interfaceMacs: new Map([['eth0', '02:00:00:00:00:01']]),
  neighbours: new Map([
    [neighbourKey('eth0', '192.0.2.11'), '02:00:00:00:00:11'],
    [neighbourKey('eth0', '192.0.2.12'), '02:00:00:00:00:12'],
  ]),
};

describe('dataplane: the kernel flow hash', () => {
  it('lays out the registers nft hashes: addresses, ports padded to 4 bytes', () => {
    const flow = { saddr: '198.51.100.10', sport: 0x1234, daddr: '203.0.113.10', dport: 80 };
    assert.deepEqual([...flowKey(flow, 'flow')], [198, 51, 100, 10, 0x12, 0x34, 0, 0, 203, 0, 113, 10, 0, 80, 0, 0]);
    assert.deepEqual([...flowKey(flow, 'client')], [198, 51, 100, 10]);
  });

  it('is Linux jhash: lookup3 with initval 0xdeadbeef + length + seed', () => {
    // The empty key returns the initial value (no final mix), as lookup3 does.
    assert.equal(jhash(new Uint8Array(0), 0, 0), 0xdeadbeef);
    assert.equal(jhash(new Uint8Array(0), 0, 1), 0xdeadbef0);
    // Every byte counts and order matters.
    const a = jhash(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]), 13, 7);
    const b = jhash(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12]), 13, 7);
    assert.notEqual(a, b);
    assert.ok(a >= 0 && a < 2 ** 32 && Number.isInteger(a));
  });

  it('scales like reciprocal_scale and spreads flows evenly', () => {
    assert.equal(scale(0, 1031), 0);
    assert.equal(scale(0xffffffff, 1031), 1030);
    const counts = new Array<number>(4).fill(0);
    for (let p = 1024; p < 1024 + 40_000; p++) counts[flowSlot({ saddr: '198.51.100.10', sport: p, daddr: '203.0.113.10', dport: 80 }, 'flow', 4, HASH_SEED)]!++;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `uneven: ${counts.join(' ')}`);
    // client hashing ignores ports
    const slot = flowSlot({ saddr: '198.51.100.10', sport: 1, daddr: '203.0.113.10', dport: 80 }, 'client', 1031, HASH_SEED);
    assert.equal(flowSlot({ saddr: '198.51.100.10', sport: 2, daddr: '203.0.113.11', dport: 443 }, 'client', 1031, HASH_SEED), slot);
  });
});

describe('dataplane: desired state', () => {
  it('builds a Maglev table over the usable servers, by weight, whatever their order', () => {
    const a = serviceState(svc(), [S1, server('s2', '192.0.2.12', 80, 3)], LINKS);
    const b = serviceState(svc(), [server('s2', '192.0.2.12', 80, 3), S1], LINKS);
    assert.deepEqual(a, b);
    assert.deepEqual(a.backends.map((x) => x.name), ['s1', 's2']);
    assert.equal(a.table.length, 1031);
    const s2 = a.table.filter((i) => i === 1).length;
    assert.ok(Math.abs(s2 / 1031 - 0.75) < 0.03, `s2 holds ${s2} of 1031`);
  });

  it('keeps a staying server\'s entries when another leaves (Maglev)', () => {
    const three = serviceState(svc(), [S1, S2, server('s3', '192.0.2.13')], LINKS);
    const two = serviceState(svc(), [S1, server('s3', '192.0.2.13')], LINKS);
    for (let i = 0; i < 1031; i++) {
      const before = three.backends[three.table[i]!]!.name;
      if (before !== 's2') assert.equal(two.backends[two.table[i]!]!.name, before, `entry ${i} moved`);
    }
  });

  it('leaves out servers of weight 0 and, in dsr, servers whose MAC address is unknown', () => {
    const left: Array<{ server: string }> = [];
    const st = serviceState(svc({ mode: 'dsr', interface: 'eth0' }), [S1, S2, server('s3', '192.0.2.13'), server('s4', '192.0.2.14', 80, 0)], LINKS, left as never);
    assert.deepEqual(st.backends.map((b) => [b.name, b.mac]), [
      ['s1', '02:00:00:00:00:11'],
      ['s2', '02:00:00:00:00:12'],
    ]);
    assert.deepEqual(left.map((l) => l.server), ['s3']);
    assert.equal(st.interfaceMac, '02:00:00:00:00:01');
  });
});

describe('dataplane: rendering', () => {
  it('replaces Fulcrum\'s tables atomically and touches no other table', () => {
    const doc = renderTransaction({ services: [serviceState(svc(), [S1, S2], LINKS)] });
    assert.deepEqual(doc.nftables.slice(0, 4), [
      { add: { table: { family: 'ip', name: 'fulcrum' } } },
      { delete: { table: { family: 'ip', name: 'fulcrum' } } },
      { add: { table: { family: 'netdev', name: 'fulcrum' } } },
      { delete: { table: { family: 'netdev', name: 'fulcrum' } } },
    ]);
    const tables = new Set(JSON.stringify(doc).match(/"(table|name)":"[^"]*"/g));
    for (const t of tables) assert.match(t, /"(table|name)":"(fulcrum|prerouting|forward|www\/s[12])"/);
    assert.deepEqual(renderRemoval().nftables, doc.nftables.slice(0, 4));
  });

  it('renders a NAT service: DNAT through the Maglev map, the port kept', () => {
    const st = serviceState(svc({ interface: 'eth0' }), [S1, S2], LINKS);
    const objects = moving(renderObjects({ services: [st] }));
    assert.deepEqual(objects.slice(0, 2), [
      { table: { family: 'ip', name: 'fulcrum' } },
      { chain: { family: 'ip', table: 'fulcrum', name: 'prerouting', type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
    ]);
    const rule = (objects[2] as { rule: { expr: unknown[]; comment: string } }).rule;
    assert.equal(rule.comment, 'fulcrum service www');
    assert.deepEqual(rule.expr.slice(0, 3), [
      { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'eth0' } },
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '203.0.113.10' } },
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 80 } },
    ]);
    const dnat = (rule.expr[3] as { dnat: { addr: { map: { key: unknown; data: { set: Array<[number, string]> } } }; port?: unknown } }).dnat;
    assert.equal(dnat.port, undefined);
    assert.deepEqual(dnat.addr.map.key, {
      jhash: {
        mod: 1031,
        seed: HASH_SEED,
        expr: {
          concat: [
            { payload: { protocol: 'ip', field: 'saddr' } },
            { payload: { protocol: 'tcp', field: 'sport' } },
            { payload: { protocol: 'ip', field: 'daddr' } },
            { payload: { protocol: 'tcp', field: 'dport' } },
          ],
        },
      },
    });
    assert.equal(dnat.addr.map.data.set.length, 1031);
    dnat.addr.map.data.set.forEach(([slot, ip], i) => {
      assert.equal(slot, i);
      assert.equal(ip, st.backends[st.table[i]!]!.host);
    });
  });

  it('translates the port when servers listen elsewhere, and adds the full-NAT rules', () => {
    const st = serviceState(svc({ snat: 'masquerade', protocol: 'udp', hash: 'client' }), [server('s1', '192.0.2.11', 8080), server('s2', '192.0.2.12', 8081)], LINKS);
    const objects = moving(renderObjects({ services: [st] }));
    const chains = objects.filter((o) => 'chain' in o).map((o) => (o.chain as { name: string }).name);
    assert.deepEqual(chains, ['prerouting', 'postrouting']);
    const dnat = ((objects[3] as { rule: { expr: Array<Record<string, unknown>> } }).rule.expr.at(-1) as { dnat: { port: { map: { data: { set: Array<[number, number]> } } } } }).dnat;
    for (const [slot, port] of dnat.port.map.data.set) assert.equal(port, st.backends[st.table[slot]!]!.port);
    const snat = (objects[4] as { rule: { chain: string; expr: unknown[] } }).rule;
    assert.equal(snat.chain, 'postrouting');
    assert.deepEqual(snat.expr, [
      { match: { op: '==', left: { ct: { key: 'ip daddr', dir: 'original' } }, right: '203.0.113.10' } },
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } },
      { match: { op: '==', left: { ct: { key: 'proto-dst', dir: 'original' } }, right: 80 } },
      { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
      { masquerade: null },
    ]);
    // one server: a constant, no map
    const one = moving(renderObjects({ services: [serviceState(svc({ ports: [80, 443] }), [S1], LINKS)] }));
    assert.deepEqual((one[2] as { rule: { expr: unknown[] } }).rule.expr.slice(1), [
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { set: [80, 443] } } },
      { dnat: { addr: '192.0.2.11' } },
    ]);
  });

  it('renders a DSR service on the interface\'s ingress hook: MACs rewritten, forwarded out', () => {
    const st = serviceState(svc({ mode: 'dsr', interface: 'eth0' }), [S1, S2], LINKS);
    const objects = renderObjects({ services: [st] });
    assert.deepEqual(objects[3], { chain: { family: 'netdev', table: 'fulcrum', name: 'ingress_eth0', type: 'filter', hook: 'ingress', dev: 'eth0', prio: -300, policy: 'accept' } });
    const rules = objects.filter((o) => 'rule' in o) as Array<{ rule: { comment: string; expr: Array<Record<string, unknown>> } }>;
    assert.deepEqual(
      rules.map((r) => r.rule.comment),
      ['fulcrum counter www', 'fulcrum counter www', 'fulcrum service www'],
      'the counting rules come first: the service\'s rule forwards the frame',
    );
    const expr = rules[2]!.rule.expr;
    assert.deepEqual(expr[2], { mangle: { key: { payload: { protocol: 'ether', field: 'saddr' } }, value: '02:00:00:00:00:01' } });
    const daddr = expr[3] as { mangle: { value: { map: { data: { set: Array<[number, string]> } } } } };
    for (const [slot, mac] of daddr.mangle.value.map.data.set) assert.equal(mac, st.backends[st.table[slot]!]!.mac);
    assert.deepEqual(expr[4], { fwd: { dev: 'eth0' } });
  });

  it('counts packets per server: NAT by connection tracking in chain forward, DSR by the hash before forwarding', () => {
    const nat = serviceState(svc({ ports: [80, 81] }), [server('s1', '192.0.2.11', 8080), server('s2', '192.0.2.12', 8080)], LINKS);
    const objects = renderObjects({ services: [nat] });
    assert.deepEqual(
      objects.filter((o) => 'counter' in o),
      [{ counter: { family: 'ip', table: 'fulcrum', name: 'www/s1' } }, { counter: { family: 'ip', table: 'fulcrum', name: 'www/s2' } }],
    );
    assert.deepEqual(objects.find((o) => 'chain' in o && (o.chain as { name: string }).name === 'forward'), {
      chain: { family: 'ip', table: 'fulcrum', name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' },
    });
    const counting = objects.filter((o) => 'rule' in o && (o.rule as { chain: string }).chain === 'forward').map((o) => (o.rule as { expr: unknown[] }).expr);
    assert.equal(counting.length, 4, 'one rule per server and port');
    assert.deepEqual(counting[1], [
      { match: { op: '==', left: { ct: { key: 'ip daddr', dir: 'original' } }, right: '203.0.113.10' } },
      { match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } },
      { match: { op: '==', left: { ct: { key: 'proto-dst', dir: 'original' } }, right: 81 } },
      { match: { op: '==', left: { ct: { key: 'ip saddr', dir: 'reply' } }, right: '192.0.2.11' } },
      { counter: 'www/s1' },
    ]);
    // the port translated: the reply's source port names the server too
    const moved = serviceState(svc(), [server('s1', '192.0.2.11', 8080), server('s2', '192.0.2.11', 8081)], LINKS);
    const movedRules = renderObjects({ services: [moved] }).filter((o) => 'rule' in o && (o.rule as { chain: string }).chain === 'forward');
    assert.deepEqual((movedRules[1]!.rule as { expr: unknown[] }).expr.at(-2), { match: { op: '==', left: { ct: { key: 'proto-src', dir: 'reply' } }, right: 8081 } });

    const dsr = serviceState(svc({ mode: 'dsr', interface: 'eth0' }), [S1, S2], LINKS);
    const dsrRules = renderObjects({ services: [dsr] }).filter((o) => 'rule' in o && (o.rule as { comment: string }).comment === 'fulcrum counter www');
    const slots = dsrRules.map((o) => {
      const expr = (o.rule as { expr: Array<Record<string, unknown>> }).expr;
      assert.deepEqual(expr.at(-1), { counter: `www/s${dsrRules.indexOf(o) + 1}` });
      return ((expr.at(-2) as { match: { right: { set: number[] } } }).match.right.set);
    });
    assert.equal(slots[0]!.length + slots[1]!.length, 1031, 'every table entry counted once');
    for (const slot of slots[0]!) assert.equal(dsr.table[slot], 0);
  });

  it('renders no rule for a service without a usable server, and no table without rules', () => {
    assert.deepEqual(renderObjects({ services: [serviceState(svc(), [], LINKS)] }), []);
    assert.deepEqual(renderTransaction({ services: [] }), renderRemoval());
  });

  it('normalises listings: no metainfo, handles or chain devices', () => {
    assert.deepEqual(
      normalizeObjects([{ metainfo: { version: '1.0.6' } }, { table: { family: 'ip', name: 'fulcrum', handle: 3 } }, { chain: { name: 'x', handle: 1, dev: 'eth0' } }]),
      [{ table: { family: 'ip', name: 'fulcrum' } }, { chain: { name: 'x' } }],
    );
  });
});

describe('dataplane: reading live rules back', () => {
  it('answers which server a flow reaches from the rendered table, as the state would', () => {
    const nat = serviceState(svc({ snat: '192.0.2.1' }), [S1, S2, server('s3', '192.0.2.13', 8080)], LINKS);
    const dsr = serviceState(svc({ name: 'dl', vip: '203.0.113.20', mode: 'dsr', interface: 'eth0', hash: 'client' }), [S1, S2], LINKS);
    const live = parseLive(renderObjects({ services: [nat, dsr] }));
    assert.deepEqual(live.map((s) => [s.name, s.mode, s.vip, s.ports, s.snat, s.hash, s.size, s.interface]), [
      ['www', 'nat', '203.0.113.10', [80], '192.0.2.1', 'flow', 1031, null],
      ['dl', 'dsr', '203.0.113.20', [80], null, 'client', 1031, 'eth0'],
    ]);
    for (let sport = 40_000; sport < 40_200; sport++) {
      const flow = { saddr: '198.51.100.10', sport, daddr: nat.vip, dport: 80 };
      const { slot, target } = whichTarget(live[0]!, flow);
      const b = nat.backends[nat.table[flowSlot(flow, 'flow', 1031, HASH_SEED)]!]!;
      assert.equal(slot, flowSlot(flow, 'flow', 1031, HASH_SEED));
      assert.deepEqual(target, { addr: b.host, port: b.port, mac: null });
    }
    const shares = tableShares(live[1]!);
    assert.equal(shares.reduce((n, s) => n + s.entries, 0), 1031);
    assert.deepEqual(shares.map((s) => s.target).sort(), ['02:00:00:00:00:11', '02:00:00:00:00:12']);
  });
});

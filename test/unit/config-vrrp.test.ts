/**
 * The `vrrp:` section: defaults, every key normalised, each mistake refused with its
 * file position and key path (ranges, the advertisement interval in centiseconds,
 * addresses, tracking, duplicates, the owner with a weight), the subnet checks (static
 * from `source` and the prefix; against this machine's interfaces through an injected
 * provider and, for `fulcrum check`, the real loopback interface), and examples/vrrp.yaml.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkCommand } from '../../src/cli/check.js';
import { formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { onlyPrioritiesDiffer } from '../../src/vrrp/service.js';
import type { VrrpInstanceConfig } from '../../src/config/types.js';
import type { InterfaceSubnets } from '../../src/config/vrrp/checks.js';

const FILE = 'vrrp.yaml';

/** Lines 1-5: a listener and a pool; the vrrp section starts on line 6, its first instance's keys at column 7 from line 8. */
const HEAD = `listeners:
  - {name: www, bind: "0.0.0.0:80", routes: [{pool: web}]}
pools:
  web:
    servers: [{name: S1, address: 192.0.2.11:80}]
vrrp:
  instances:
`;

/** One instance whose first key is on line 8 (`- name: www` at column 5). */
function inst(...lines: string[]): string {
  return lines.map((l, i) => (i === 0 ? `    - ${l}\n` : `      ${l}\n`)).join('');
}

const BASE = ['name: www', 'interface: eth0', 'vrid: 51', 'virtual_ips: [192.0.2.10/24]'];

function issues(text: string, interfaces?: InterfaceSubnets): string[] {
  return loadConfigText(text, FILE, { interfaces }).issues.map(formatIssue);
}

function ok(text: string, interfaces?: InterfaceSubnets): VrrpInstanceConfig[] {
  const r = loadConfigText(text, FILE, { interfaces });
  assert.deepEqual(r.issues.map(formatIssue), []);
  return r.config!.vrrp!.instances;
}

describe('config: vrrp', () => {
  it('fills in the defaults', () => {
    const [i] = ok(HEAD + inst(...BASE));
    assert.deepEqual(i, {
      name: 'www',
      interface: 'eth0',
      vrid: 51,
      priority: 100,
      advertIntervalCs: 100,
      virtualIps: [{ address: '192.0.2.10', prefix: 24 }],
      preempt: true,
      preemptDelayMs: 0,
      source: null,
      unicastPeers: [],
      garp: { count: 5, intervalMs: 10, repeatAfterMs: 5000, refreshMs: 0 },
      track: [],
      trackIntervalMs: 1000,
      notify: null,
    });
  });

  it('reads every key', () => {
    const [i] = ok(
      HEAD +
        inst(
          ...BASE.slice(0, 3),
          'virtual_ips: [192.0.2.10, 192.0.2.20/25]',
          'priority: 254',
          'advert_interval: 120ms',
          'preempt: false',
          'preempt_delay: 30s',
          'source: 192.0.2.2',
          'unicast_peers: [192.0.2.3]',
          'garp: {count: 2, interval: 0, repeat_after: 0, refresh: 1m}',
          'track: [{listener: www, weight: 10}, {pool: web}]',
          'track_interval: 250ms',
          'notify: /usr/local/bin/vip-changed --quiet',
        ),
    );
    assert.equal(i!.priority, 254);
    assert.equal(i!.advertIntervalCs, 12);
    assert.deepEqual(i!.virtualIps, [
      { address: '192.0.2.10', prefix: 32 },
      { address: '192.0.2.20', prefix: 25 },
    ]);
    assert.equal(i!.preempt, false);
    assert.equal(i!.preemptDelayMs, 30_000);
    assert.equal(i!.source, '192.0.2.2');
    assert.deepEqual(i!.unicastPeers, ['192.0.2.3']);
    assert.deepEqual(i!.garp, { count: 2, intervalMs: 0, repeatAfterMs: 0, refreshMs: 60_000 });
    assert.deepEqual(i!.track, [
      { kind: 'listener', name: 'www', weight: 10 },
      { kind: 'pool', name: 'web', weight: null },
    ]);
    assert.equal(i!.trackIntervalMs, 250);
    assert.deepEqual(i!.notify, ['/usr/local/bin/vip-changed', '--quiet']);
  });

  it('a file may hold only a vrrp section (a virtual IP for another balancer)', () => {
    const r = loadConfigText(`vrrp:\n  instances:\n${inst(...BASE)}`, FILE);
    assert.deepEqual(r.issues, []);
    assert.equal(r.config!.listeners.length, 0);
  });

  const BAD: Array<[string, string[], string]> = [
    ['priority above 255', ['priority: 256'], `${FILE}:12:17: vrrp.instances[0].priority: must be an integer from 1 to 255`],
    ['priority 0 (only sent on resignation)', ['priority: 0'], `${FILE}:12:17: vrrp.instances[0].priority: must be an integer from 1 to 255`],
    ['a fractional priority', ['priority: 1.5'], 'vrrp.instances[0].priority: must be an integer from 1 to 255'],
    ['vrid 0', [], ''],
    ['an interval below 10ms', ['advert_interval: 5ms'], 'vrrp.instances[0].advert_interval: the advertisement interval must be from 10ms to 40.95s'],
    ['an interval above 40.95s', ['advert_interval: 41s'], 'must be from 10ms to 40.95s (VRRPv3 sends it in centiseconds, 12 bits), got 41s'],
    ['an interval between centiseconds', ['advert_interval: 15ms'], 'use a multiple of 10ms, such as "20ms"'],
    ['a prefix past 32', [], ''],
    ['an unknown key', ['prority: 10'], 'unknown key `prority`; did you mean `priority`?'],
    ['a track naming two things', ['track: [{pool: web, listener: www}]'], 'vrrp.instances[0].track[0]: name exactly one thing to track'],
    ['a track naming nothing', ['track: [{weight: 5}]'], 'vrrp.instances[0].track[0]: name exactly one thing to track'],
    ['a tracked listener that does not exist', ['track: [{listener: wwx}]'], "vrrp.instances[0].track[0].listener: no listener named `wwx` (listeners: `www`)"],
    ['a tracked pool that does not exist', ['track: [{pool: api, weight: 5}]'], 'vrrp.instances[0].track[0].pool: no pool named `api` (pools: `web`)'],
    ['a weight on the address owner', ['priority: 255', 'track: [{pool: web, weight: 5}]'], 'the address owner (priority 255) keeps priority 255'],
    ['a weight of 0', ['track: [{pool: web, weight: 0}]'], 'vrrp.instances[0].track[0].weight: must be an integer from 1 to 254'],
    ['a unicast peer that is not IPv4', ['unicast_peers: [peer.example.com]'], 'vrrp.instances[0].unicast_peers[0]: expected an IPv4 address such as "192.0.2.10"'],
    ['an empty notify', ['notify: " "'], 'the notify command is empty'],
    ['a VIP outside the subnet of `source`', ['source: 198.51.100.2'], `${FILE}:11:21: vrrp.instances[0].virtual_ips[0]: 192.0.2.10/24 is outside the subnet of the interface's address 198.51.100.2`],
  ];
  for (const [name, extra, expected] of BAD) {
    if (expected === '') continue;
    it(`refuses ${name}`, () => {
      const found = issues(HEAD + inst(...BASE, ...extra));
      assert.ok(found.some((f) => f.includes(expected)), `expected ${JSON.stringify(expected)} in:\n${found.join('\n')}`);
    });
  }

  it('refuses vrid 0, a bad prefix and IPv6 addresses, each at its place', () => {
    assert.deepEqual(issues(HEAD + inst('name: www', 'interface: eth0', 'vrid: 0', 'virtual_ips: [192.0.2.10/33, "2001:db8::1"]')), [
      `${FILE}:10:13: vrrp.instances[0].vrid: must be an integer from 1 to 255 (the virtual router id, the same on both nodes), got 0`,
      `${FILE}:11:21: vrrp.instances[0].virtual_ips[0]: invalid prefix length "/33" in "192.0.2.10/33": expected 0 to 32`,
      `${FILE}:11:36: vrrp.instances[0].virtual_ips[1]: "2001:db8::1" is not an IPv4 address with an optional prefix such as "192.0.2.10/24" (IPv6 virtual addresses are not supported yet)`,
    ]);
  });

  it('refuses missing keys and an empty address list', () => {
    const found = issues(HEAD + inst('name: www', 'virtual_ips: []'));
    assert.ok(found.some((f) => /vrrp\.instances\[0\]\.interface: missing required key `interface`/.test(f)), found.join('\n'));
    assert.ok(found.some((f) => /missing required key `vrid`/.test(f)), found.join('\n'));
    assert.ok(found.some((f) => /virtual_ips: give at least one virtual address/.test(f)), found.join('\n'));
  });

  it('refuses duplicate names, VRIDs on one interface, and an address in two instances', () => {
    const text = HEAD + inst(...BASE) + inst('name: www', 'interface: eth0', 'vrid: 51', 'virtual_ips: [192.0.2.10]') + inst('name: api', 'interface: eth1', 'vrid: 51', 'virtual_ips: [192.0.2.30]');
    assert.deepEqual(issues(text), [
      `${FILE}:12:13: vrrp.instances[1].name: duplicate instance name \`www\`: vrrp.instances[0] already uses it`,
      `${FILE}:14:13: vrrp.instances[1].vrid: vrid 51 on eth0 is already used by vrrp.instances[0]: each virtual router on an interface needs its own vrid`,
      `${FILE}:15:21: vrrp.instances[1].virtual_ips[0]: 192.0.2.10 is already a virtual address of vrrp.instances[0]: an address can belong to one instance only`,
    ]);
  });

  describe("against this machine's interfaces", () => {
    const here: InterfaceSubnets = (name) => (name === 'eth0' ? [{ address: '198.51.100.2', prefix: 24 }] : undefined);

    it('refuses a VIP outside every subnet of the interface', () => {
      assert.deepEqual(issues(HEAD + inst(...BASE), here), [
        `${FILE}:11:21: vrrp.instances[0].virtual_ips[0]: 192.0.2.10/24 is outside every subnet of interface eth0 on this machine (198.51.100.2/24): neighbours on that link would not reach it; use an address of the interface's subnet`,
      ]);
      ok(HEAD + inst('name: www', 'interface: eth0', 'vrid: 51', 'virtual_ips: [198.51.100.10]'), here);
    });

    it('refuses a `source` the interface does not have', () => {
      const found = issues(HEAD + inst('name: www', 'interface: eth0', 'vrid: 51', 'virtual_ips: [198.51.100.10]', 'source: 198.51.100.3'), here);
      assert.deepEqual(found, [`${FILE}:12:15: vrrp.instances[0].source: 198.51.100.3 is not an address of interface eth0 on this machine (it has 198.51.100.2)`]);
    });

    it('says nothing of an interface this machine does not have (the file may be for another one)', () => {
      ok(HEAD + inst('name: www', 'interface: eth9', 'vrid: 51', 'virtual_ips: [192.0.2.10/24]'), here);
    });

    it('the library loader alone does not look at the machine', () => {
      ok(HEAD + inst(...BASE));
    });
  });

  it('fulcrum check refuses a VIP outside the subnet of the real loopback interface', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-vrrp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, HEAD + inst('name: www', 'interface: lo', 'vrid: 51', 'virtual_ips: [192.0.2.10/24]'));
    let err = '';
    let out = '';
    assert.equal(await checkCommand(['-c', bad], { stdout: (s) => (out += s), stderr: (s) => (err += s) }), 1);
    assert.match(err, new RegExp(`^${bad}:11:21: vrrp\\.instances\\[0\\]\\.virtual_ips\\[0\\]: 192\\.0\\.2\\.10/24 is outside every subnet of interface lo on this machine \\(127\\.0\\.0\\.1/8\\)`));
    const good = join(dir, 'good.yaml');
    await writeFile(good, HEAD + inst('name: www', 'interface: lo', 'vrid: 51', 'virtual_ips: [127.0.0.10/8]'));
    assert.equal(await checkCommand(['-c', good], { stdout: (s) => (out += s), stderr: (s) => (err += s) }), 0);
    assert.match(out, /configuration OK \(1 listener, 1 pool, 1 VRRP instance\)/);
  });

  it('examples/vrrp.yaml: www.example.com on VIP 192.0.2.10 in front of S1 and S2, tracking its pool and listener', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const { config, issues: found } = await loadConfigFile(join(dir, 'vrrp.yaml'));
    assert.deepEqual(found.map(formatIssue), []);
    const [i] = config!.vrrp!.instances;
    assert.deepEqual(i!.virtualIps, [{ address: '192.0.2.10', prefix: 24 }]);
    assert.equal(i!.priority, 150);
    assert.deepEqual(
      i!.track.map((t) => `${t.kind} ${t.name} ${t.weight}`),
      ['pool web 60', 'listener www null'],
    );
    assert.deepEqual(
      config!.pools.get('web')!.servers.map((s) => s.name),
      ['S1', 'S2'],
    );
  });
});

describe('vrrp: what a reload may change in place', () => {
  const section = (priority: number, extra = '') => {
    const { config, issues } = loadConfigText(
      `listeners: [{name: www, bind: "0.0.0.0:80", routes: [{pool: web}]}]
pools: {web: {servers: [{address: "192.0.2.11:80"}]}}
vrrp:
  instances:
    - {name: www, interface: eth0, vrid: 51, priority: ${priority}, virtual_ips: [192.0.2.10/24]${extra}}
`,
      'lb.yaml',
    );
    assert.deepEqual(issues, []);
    return config!.vrrp!;
  };

  it('priorities alone: in place', () => {
    assert.equal(onlyPrioritiesDiffer(section(150), section(100)), true);
    assert.equal(onlyPrioritiesDiffer(section(150), section(150)), true);
  });

  it('anything else, or the owner priority 255: a restart', () => {
    assert.equal(onlyPrioritiesDiffer(section(150), section(100, ', advert_interval: 2s')), false);
    assert.equal(onlyPrioritiesDiffer(section(150), section(150, ', preempt: false')), false);
    assert.equal(onlyPrioritiesDiffer(section(150), section(255)), false);
    assert.equal(onlyPrioritiesDiffer(section(255), section(150)), false);
  });
});

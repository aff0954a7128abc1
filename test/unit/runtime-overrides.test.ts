/** The runtime's overrides (what survives reloads) and the words of `fulcrum server`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Overrides, parseServerSpec } from '../../src/runtime/overrides.js';
import { parseServerWords } from '../../src/cli/server.js';
import { configOk } from '../helpers/config.js';

const base = () =>
  configOk(
    `listeners:
  - { name: www, bind: 127.0.0.1:0, routes: [{ pool: web }] }
pools:
  web:
    servers:
      - { name: s1, address: 192.0.2.1:80, weight: 3 }
      - { name: s2, address: 192.0.2.2:80 }
`,
    'o.yaml',
  );
const names = (c: ReturnType<typeof base>) => c.pools.get('web')!.servers.map((s) => `${s.name}@${s.host}:${s.port}/${s.weight}`);

describe('overrides', () => {
  it('a state or weight set back to the file\'s is no override', () => {
    const o = new Overrides();
    o.setState('web', 's1', 'drain');
    o.setWeight('web', 's1', 7, 3);
    assert.deepEqual(o.list(), [{ pool: 'web', server: 's1', state: 'drain', weight: 7 }]);
    assert.deepEqual(o.updates(base()), [{ pool: 'web', server: 's1', address: '192.0.2.1:80', state: 'drain', weight: 7 }]);
    o.setState('web', 's1', 'ready');
    o.setWeight('web', 's1', 3, 3);
    assert.deepEqual(o.list(), []);
    assert.deepEqual(o.updates(base()), []);
  });

  it('added and removed servers make the effective configuration; a snapshot undoes a change', () => {
    const o = new Overrides();
    const { server } = parseServerSpec({ name: 's3', host: '192.0.2.3', port: 8080, weight: 2 });
    o.add('web', server!);
    o.remove('web', 's2');
    assert.deepEqual(names(o.effective(base()).config), ['s1@192.0.2.1:80/3', 's3@192.0.2.3:8080/2']);
    const undo = o.snapshot('web', 's3');
    o.remove('web', 's3');
    assert.deepEqual(names(o.effective(base()).config), ['s1@192.0.2.1:80/3']);
    undo();
    assert.deepEqual(names(o.effective(base()).config), ['s1@192.0.2.1:80/3', 's3@192.0.2.3:8080/2']);
    o.unremove('web', 's2');
    assert.deepEqual(names(o.effective(base()).config), ['s1@192.0.2.1:80/3', 's2@192.0.2.2:80/1', 's3@192.0.2.3:8080/2']);
  });

  it('drops what a new file makes meaningless, saying why', () => {
    const o = new Overrides();
    o.setState('gone', 'x', 'maint');
    o.add('web', parseServerSpec({ name: 's2', host: '192.0.2.9', port: 80 }).server!);
    o.remove('web', 'nope');
    const { dropped } = o.effective(base());
    assert.deepEqual(dropped, [
      'override of gone/x dropped: pool gone is no longer configured',
      "override of web/s2 dropped: the file now has a server s2 in pool web: the file's wins",
      'override of web/nope dropped: pool web no longer has a server nope',
    ]);
    assert.deepEqual(o.list(), []);
  });

  it('checks a server to add with the file\'s own rules', () => {
    assert.deepEqual(parseServerSpec({ name: 'x', host: '192.0.2.1', port: 0 }).problems, ['address: port 0 in "192.0.2.1:0" cannot be connected to: expected 1 to 65535']);
    assert.match(parseServerSpec({ name: 'x', host: '::1', port: 80, weight: 999 }).problems.join(), /^weight: /);
    assert.equal(parseServerSpec({ name: 'x', host: '::1', port: 80 }).server?.host, '::1');
  });
});

describe('fulcrum server words', () => {
  it('reads every action', () => {
    assert.deepEqual(parseServerWords(['drain', 'web/s1'], undefined), { op: 'state', pool: 'web', server: 's1', state: 'drain' });
    assert.deepEqual(parseServerWords(['weight', 'web/s1', '5'], undefined), { op: 'weight', pool: 'web', server: 's1', weight: 5 });
    assert.deepEqual(parseServerWords(['add', 'web', 's3', '[::1]:8080'], '2'), { op: 'add', pool: 'web', spec: { name: 's3', host: '::1', port: 8080, weight: 2 } });
    assert.deepEqual(parseServerWords(['remove', 'web/s1'], undefined), { op: 'remove', pool: 'web', server: 's1' });
    assert.deepEqual(parseServerWords(['check', 'web/s1'], undefined), { op: 'check', pool: 'web', server: 's1' });
  });

  it('says what is wrong', () => {
    assert.match(String(parseServerWords(['stop', 'web/s1'], undefined)), /unknown action "stop"/);
    assert.match(String(parseServerWords(['drain', 'web'], undefined)), /POOL\/SERVER/);
    assert.match(String(parseServerWords(['weight', 'web/s1'], undefined)), /N \(an integer/);
    assert.match(String(parseServerWords(['add', 'web', 's3', 'localhost'], undefined)), /HOST:PORT/);
    assert.match(String(parseServerWords(['drain', 'web/s1', 'extra'], undefined)), /unexpected "extra"/);
  });
});

/**
 * The self-test of Node's internals (src/io/internals.ts) with fake probes, and the
 * check of the native addon's exported constants (src/io/addon.ts).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { addonMismatch, nativeAddon, SHARED_CONSTANTS } from '../../src/io/addon.js';
import { takeOverAccept } from '../../src/io/accept.js';
import { disabledByEnv, INTERNAL_NAMES, NODE_PROBES, selfTest, type Probes } from '../../src/io/internals.js';
import type { Handles } from '../../src/io/tcp-handles.js';

const fakeHandles = {} as Handles;
const fakeSymbols = { buffer: Symbol('b'), callback: Symbol('c'), gen: Symbol('g') };
const present: Probes = { tcpWrap: () => fakeHandles, onread: () => fakeSymbols, fastBuffer: () => true };

test('every internal present: no log line, everything used', () => {
  const lines: string[] = [];
  const io = selfTest(new Set(), present, (l) => lines.push(l));
  assert.deepEqual(lines, []);
  assert.equal(io.handles, fakeHandles);
  assert.equal(io.onread, fakeSymbols);
  assert.equal(io.fastBuffer, true);
});

test('a missing internal: one line naming it and the public path, and null in its place', () => {
  const lines: string[] = [];
  const io = selfTest(new Set(), { ...present, tcpWrap: () => "tcp_wrap's TCP has no writeBuffer()", onread: () => 'kBuffer is not there' }, (l) => lines.push(l));
  assert.equal(io.handles, null);
  assert.equal(io.onread, null);
  assert.equal(io.fastBuffer, true);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^io: Node internal tcp_wrap is not usable \(tcp_wrap's TCP has no writeBuffer\(\)\): using net\.Socket .* instead$/);
  assert.match(lines[1]!, /^io: Node internal onread is not usable \(kBuffer is not there\): using 'data' events .* instead$/);
});

test('a disabled internal is not probed and reads as missing', () => {
  const lines: string[] = [];
  const probed: string[] = [];
  const probes: Probes = {
    tcpWrap: () => (probed.push('tcp_wrap'), fakeHandles),
    onread: () => (probed.push('onread'), fakeSymbols),
    fastBuffer: () => (probed.push('fast_buffer'), true),
  };
  const io = selfTest(new Set(['tcp_wrap'] as const), probes, (l) => lines.push(l));
  assert.deepEqual(probed, ['onread', 'fast_buffer']);
  assert.equal(io.handles, null);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /tcp_wrap is not usable \(disabled by FULCRUM_IO_DISABLE\)/);
});

test('FULCRUM_IO_DISABLE: names, all, unknown names ignored', () => {
  assert.deepEqual([...disabledByEnv('tcp_wrap, onread,bogus')], ['tcp_wrap', 'onread']);
  assert.deepEqual([...disabledByEnv('all')], [...INTERNAL_NAMES]);
  assert.equal(disabledByEnv(undefined).size, 0);
  assert.equal(disabledByEnv('').size, 0);
});

test("this Node's internals pass the real probes", () => {
  const tcp = NODE_PROBES.tcpWrap();
  assert.notEqual(typeof tcp, 'string', String(tcp));
  const h = tcp as Handles;
  assert.equal(typeof h.newTcp, 'function');
  assert.ok(h.state instanceof Int32Array);
  const onread = NODE_PROBES.onread();
  assert.notEqual(typeof onread, 'string', String(onread));
  assert.equal(NODE_PROBES.fastBuffer(), true);
});

test('takeOverAccept leaves a server without a listening handle to net.Server', () => {
  const server = net.createServer();
  const acceptor = { acceptHandle: () => {}, acceptFailed: () => {}, internalError: () => {} };
  assert.equal(takeOverAccept(server, acceptor, true), false); // not listening: no _handle (logged once)
});

/** A module shaped like the addon: the constants and the functions the loader checks. */
function fakeAddon(constants: Record<string, number>): Record<string, unknown> {
  const fn = () => 0;
  return { RECORD: 6, constants, init: fn, listen: fn, streamArena: fn, streamWrite: fn, tlsServer: fn, udpOpen: fn, notify: fn, dropPrivileges: fn, limitsCreate: fn };
}

test('addon constants: equal ones are accepted, a different or missing one refuses the addon', () => {
  assert.equal(addonMismatch(fakeAddon({ ...SHARED_CONSTANTS })), null);
  assert.match(addonMismatch(fakeAddon({ ...SHARED_CONSTANTS, EV_S_DATA: 99 }))!, /EV_S_DATA is 99 in C but 8 in TypeScript/);
  assert.match(addonMismatch(fakeAddon({ ...SHARED_CONSTANTS, ARENA_BYTES: 65536 }))!, /ARENA_BYTES is 65536 in C but 1048576/);
  const { STREAM_SLOTS: _, ...without } = SHARED_CONSTANTS;
  assert.match(addonMismatch(fakeAddon(without))!, /STREAM_SLOTS is undefined/);
  assert.match(addonMismatch({ RECORD: 6 })!, /exports no constants/);
  assert.match(addonMismatch({ ...fakeAddon({ ...SHARED_CONSTANTS }), tlsServer: undefined })!, /no function tlsServer/);
  assert.match(addonMismatch({ ...fakeAddon({ ...SHARED_CONSTANTS }), udpOpen: undefined })!, /no function udpOpen/);
});

test('the built addon exports the constants TypeScript uses', (t) => {
  const addon = nativeAddon();
  if (addon === null) {
    t.skip('the native addon is not built here');
    return;
  }
  assert.equal(addonMismatch(addon), null);
  assert.deepEqual(addon.constants, SHARED_CONSTANTS);
});

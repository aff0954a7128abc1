/**
 * The pure VRRP state machine (RFC 5798 6.4) driven event by event: timings
 * (Master_Down_Interval, Skew_Time), the address owner, preemption with and without a
 * delay, nopreempt, priority-0 resignation both ways, ties broken by address, tracking
 * (priority changes, fault), shutdown, and events that must change nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4ToInt } from '../../src/vrrp/packet.js';
import { initialState, masterDownMs, skewMs, step, type VrrpAction, type VrrpEvent, type VrrpState } from '../../src/vrrp/state-machine.js';

const ME = ipv4ToInt('192.0.2.2');
const LOWER_ADDR = ipv4ToInt('192.0.2.1');
const HIGHER_ADDR = ipv4ToInt('192.0.2.3');

function machine(opts: Partial<{ priority: number; intervalCs: number; preempt: boolean; preemptDelayMs: number }> = {}): VrrpState {
  return initialState({ priority: 100, intervalCs: 100, preempt: true, address: ME, ...opts });
}

/** Runs events in order; returns the last state and every action per event. */
function run(s: VrrpState, events: VrrpEvent[]): { state: VrrpState; actions: VrrpAction[][] } {
  const actions: VrrpAction[][] = [];
  for (const e of events) {
    const r = step(s, e);
    s = r.state;
    actions.push(r.actions);
  }
  return { state: s, actions };
}

const advert = (priority: number, source = LOWER_ADDR, now = 0, intervalCs = 100): VrrpEvent => ({ type: 'advert', priority, intervalCs, source, now });
const types = (a: VrrpAction[]) => a.map((x) => x.type);

test('vrrp state: Skew_Time and Master_Down_Interval as RFC 5798 6.1 defines them', () => {
  assert.equal(skewMs(100, 100), (156 * 1000) / 256);
  assert.equal(masterDownMs(100, 100), 3000 + (156 * 1000) / 256);
  assert.equal(masterDownMs(254, 10), 300 + (2 * 100) / 256);
  assert.equal(masterDownMs(1, 10), 300 + (255 * 100) / 256);
  // Higher priority, shorter skew: the best backup always speaks first.
  assert.ok(skewMs(200, 100) < skewMs(100, 100));
});

test('vrrp state: a non-owner starts as backup with Master_Down_Timer', () => {
  const r = step(machine(), { type: 'startup', now: 0 });
  assert.equal(r.state.name, 'backup');
  assert.deepEqual(r.actions[0], { type: 'timer', timer: 'master-down', ms: masterDownMs(100, 100) });
  assert.deepEqual(r.actions[1]?.type, 'changed');
});

test('vrrp state: the address owner (priority 255) starts as master at once', () => {
  const r = step(machine({ priority: 255 }), { type: 'startup', now: 0 });
  assert.equal(r.state.name, 'master');
  assert.deepEqual(types(r.actions), ['send', 'take-addresses', 'timer', 'changed']);
  assert.deepEqual(r.actions[0], { type: 'send', priority: 255 });
  assert.deepEqual(r.actions[2], { type: 'timer', timer: 'adver', ms: 1000 });
});

test('vrrp state: backup becomes master when Master_Down_Timer fires', () => {
  const { state, actions } = run(machine(), [{ type: 'startup', now: 0 }, { type: 'timer', timer: 'master-down' }]);
  assert.equal(state.name, 'master');
  assert.deepEqual(types(actions[1]!), ['send', 'take-addresses', 'timer', 'changed']);
});

test('vrrp state: a master advertises on every Adver_Timer with its priority', () => {
  const { actions } = run(machine({ priority: 150, intervalCs: 10 }), [
    { type: 'startup', now: 0 },
    { type: 'timer', timer: 'master-down' },
    { type: 'timer', timer: 'adver' },
  ]);
  assert.deepEqual(actions[2], [{ type: 'send', priority: 150 }, { type: 'timer', timer: 'adver', ms: 100 }]);
});

test("vrrp state: a backup learns the master's interval and restarts its timer on every advert", () => {
  const { state, actions } = run(machine(), [{ type: 'startup', now: 0 }, advert(200, HIGHER_ADDR, 5, 10)]);
  assert.equal(state.name, 'backup');
  assert.equal(state.masterIntervalCs, 10);
  assert.equal(state.master, HIGHER_ADDR);
  assert.deepEqual(actions[1], [{ type: 'timer', timer: 'master-down', ms: masterDownMs(100, 10) }]);
});

test('vrrp state: preempt: a backup ignores a lower-priority master, so its timer fires', () => {
  const { state, actions } = run(machine({ priority: 150 }), [{ type: 'startup', now: 0 }, advert(100, LOWER_ADDR, 10), { type: 'timer', timer: 'master-down' }]);
  assert.deepEqual(actions[1], []);
  assert.equal(state.name, 'master');
});

test('vrrp state: nopreempt: a backup follows a lower-priority master', () => {
  const { state, actions } = run(machine({ priority: 150, preempt: false }), [{ type: 'startup', now: 0 }, advert(100, LOWER_ADDR, 10)]);
  assert.equal(state.name, 'backup');
  assert.equal(types(actions[1]!)[0], 'timer');
});

test('vrrp state: preempt delay: follows a lower master until the delay since start-up is over', () => {
  const events: VrrpEvent[] = [{ type: 'startup', now: 1000 }, advert(100, LOWER_ADDR, 1000 + 2999), advert(100, LOWER_ADDR, 1000 + 3000)];
  const { actions } = run(machine({ priority: 150, preemptDelayMs: 3000 }), events);
  assert.equal(types(actions[1]!)[0], 'timer', 'within the delay: accepted, timer restarted');
  assert.deepEqual(actions[2], [], 'after the delay: ignored');
});

test('vrrp state: a backup hearing a resignation (priority 0) takes over after Skew_Time', () => {
  const { state, actions } = run(machine({ priority: 100, intervalCs: 10 }), [
    { type: 'startup', now: 0 },
    advert(200, HIGHER_ADDR, 1, 10),
    advert(0, HIGHER_ADDR, 2, 10),
    { type: 'timer', timer: 'master-down' },
  ]);
  assert.deepEqual(actions[2], [{ type: 'timer', timer: 'master-down', ms: skewMs(100, 10) }]);
  assert.ok(skewMs(100, 10) < 100);
  assert.equal(state.name, 'master');
});

test('vrrp state: a master steps down for a higher priority, releasing the addresses', () => {
  const { state, actions } = run(machine({ priority: 100 }), [{ type: 'startup', now: 0 }, { type: 'timer', timer: 'master-down' }, advert(200, LOWER_ADDR, 5, 10)]);
  assert.equal(state.name, 'backup');
  assert.deepEqual(types(actions[2]!), ['cancel-timer', 'release-addresses', 'timer', 'changed']);
  assert.deepEqual(actions[2]![2], { type: 'timer', timer: 'master-down', ms: masterDownMs(100, 10) });
});

test('vrrp state: equal priorities: the higher primary address wins', () => {
  const asMaster = run(machine(), [{ type: 'startup', now: 0 }, { type: 'timer', timer: 'master-down' }]).state;
  assert.equal(step(asMaster, advert(100, LOWER_ADDR)).state.name, 'master');
  assert.deepEqual(step(asMaster, advert(100, LOWER_ADDR)).actions, []);
  assert.equal(step(asMaster, advert(100, HIGHER_ADDR)).state.name, 'backup');
});

test('vrrp state: a master ignores a lower priority and answers a resignation at once', () => {
  const asMaster = run(machine(), [{ type: 'startup', now: 0 }, { type: 'timer', timer: 'master-down' }]).state;
  assert.deepEqual(step(asMaster, advert(50)).actions, []);
  assert.deepEqual(step(asMaster, advert(0)).actions, [{ type: 'send', priority: 100 }, { type: 'timer', timer: 'adver', ms: 1000 }]);
  assert.equal(step(asMaster, advert(0)).state.name, 'master');
});

test('vrrp state: shutdown as master sends priority 0 and releases; as backup only stops the timer', () => {
  const asMaster = run(machine(), [{ type: 'startup', now: 0 }, { type: 'timer', timer: 'master-down' }]).state;
  const m = step(asMaster, { type: 'shutdown' });
  assert.equal(m.state.name, 'init');
  assert.deepEqual(m.actions.slice(0, 3), [{ type: 'cancel-timer' }, { type: 'send', priority: 0 }, { type: 'release-addresses' }]);
  const asBackup = step(machine(), { type: 'startup', now: 0 }).state;
  assert.deepEqual(types(step(asBackup, { type: 'shutdown' }).actions), ['cancel-timer', 'changed']);
  assert.deepEqual(step(machine(), { type: 'shutdown' }).actions, []);
});

test('vrrp state: tracking lowers the priority used in the next advertisement and timers', () => {
  const { state, actions } = run(machine({ priority: 150, intervalCs: 10 }), [
    { type: 'startup', now: 0 },
    { type: 'timer', timer: 'master-down' },
    { type: 'priority', priority: 90 },
    { type: 'timer', timer: 'adver' },
  ]);
  assert.equal(state.priority, 90);
  assert.deepEqual(actions[2], []);
  assert.deepEqual(actions[3]![0], { type: 'send', priority: 90 });
});

test('vrrp state: fault: a master resigns and releases; checks passing again start as backup', () => {
  const { state, actions } = run(machine(), [
    { type: 'startup', now: 0 },
    { type: 'timer', timer: 'master-down' },
    { type: 'fault', faulty: true },
    advert(50),
    { type: 'timer', timer: 'master-down' },
    { type: 'fault', faulty: false },
  ]);
  assert.deepEqual(types(actions[2]!), ['cancel-timer', 'send', 'release-addresses', 'changed']);
  assert.deepEqual(actions[2]![1], { type: 'send', priority: 0 });
  assert.deepEqual(actions[3], [], 'in fault: adverts ignored');
  assert.deepEqual(actions[4], [], 'in fault: stale timers ignored');
  assert.equal(state.name, 'backup');
  assert.equal(types(actions[5]!)[0], 'timer');
});

test('vrrp state: a fault before start-up starts in fault; the owner leaves fault as master', () => {
  const { state } = run(machine({ priority: 255 }), [{ type: 'fault', faulty: true }, { type: 'startup', now: 0 }]);
  assert.equal(state.name, 'fault');
  assert.equal(step(state, { type: 'fault', faulty: false }).state.name, 'master');
});

test('vrrp state: events that do not apply change nothing and do nothing', () => {
  const init = machine();
  const backup = step(init, { type: 'startup', now: 0 }).state;
  const cases: Array<[VrrpState, VrrpEvent]> = [
    [init, advert(200)],
    [init, { type: 'timer', timer: 'adver' }],
    [init, { type: 'timer', timer: 'master-down' }],
    [backup, { type: 'timer', timer: 'adver' }],
    [backup, { type: 'startup', now: 5 }],
  ];
  for (const [s, e] of cases) {
    const r = step(s, e);
    assert.deepEqual(r.actions, [], JSON.stringify(e));
    assert.deepEqual(r.state, s);
  }
});

test('vrrp state: step never mutates its input', () => {
  const s = Object.freeze(step(machine(), { type: 'startup', now: 0 }).state);
  for (const e of [advert(200), advert(0), advert(50), { type: 'timer', timer: 'master-down' } as VrrpEvent, { type: 'shutdown' } as VrrpEvent]) step(s, e);
});

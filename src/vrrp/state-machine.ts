/**
 * The VRRP state machine of RFC 5798 section 6.4 as a pure function: `step(state,
 * event)` returns the next state and the actions to carry out (send an advertisement,
 * arm the one timer, take or release the virtual addresses). Sockets, timers and the
 * clock live in the caller (router.ts), so every transition is unit-tested on its own.
 *
 * Beyond the RFC: a `fault` state (as keepalived has) for an instance whose tracked
 * listener or pool failed: it holds no address, sends nothing and ignores peers; and a
 * preemption delay (keepalived's preempt_delay): for that long after start-up a backup
 * accepts a lower-priority master, as with nopreempt.
 */

export type VrrpStateName = 'init' | 'backup' | 'master' | 'fault';

/** What the machine remembers between events. Times are ms on the caller's clock. */
export interface VrrpState {
  readonly name: VrrpStateName;
  /** Effective priority (configured, less tracking weights): 1..255. */
  readonly priority: number;
  /** Our own Advertisement_Interval, centiseconds. */
  readonly intervalCs: number;
  /** Master_Adver_Interval: the interval the current master announces, centiseconds. */
  readonly masterIntervalCs: number;
  readonly preempt: boolean;
  /** preempt_delay: how long after start-up a backup still accepts a lower-priority master. */
  readonly preemptDelayMs: number;
  /** No preemption before this time (start-up + preempt_delay). */
  readonly preemptAfter: number;
  /** Our primary address as an unsigned integer: breaks ties between equal priorities. */
  readonly address: number;
  /** The address of the master we last accepted (0 when none, or when we are master). */
  readonly master: number;
  /** A tracked listener or pool failed: stay in (or go to) fault. */
  readonly faulty: boolean;
  /** The master resigned (priority 0): Master_Down_Timer runs for Skew_Time only. */
  readonly resigned: boolean;
}

export type VrrpEvent =
  | { type: 'startup'; now: number }
  | { type: 'shutdown' }
  /** An advertisement for our VRID passed every check (packet.ts, router.ts). */
  | { type: 'advert'; priority: number; intervalCs: number; source: number; now: number }
  | { type: 'timer'; timer: TimerKind }
  /** The effective priority changed (tracking). */
  | { type: 'priority'; priority: number }
  /** A tracked listener or pool failed (true) or recovered (false). */
  | { type: 'fault'; faulty: boolean };

export type TimerKind = 'adver' | 'master-down';

export type VrrpAction =
  | { type: 'send'; priority: number }
  /** Arms the single timer (replacing any armed one). */
  | { type: 'timer'; timer: TimerKind; ms: number }
  | { type: 'cancel-timer' }
  /** Add the virtual addresses and announce them (gratuitous ARP). */
  | { type: 'take-addresses' }
  | { type: 'release-addresses' }
  | { type: 'changed'; from: VrrpStateName; to: VrrpStateName; why: string };

export interface StepResult {
  state: VrrpState;
  actions: VrrpAction[];
}

/** The address owner's priority: it starts as master at once. */
export const OWNER_PRIORITY = 255;

/** Skew_Time in ms: ((256 - Priority) * Master_Adver_Interval) / 256 (RFC 5798 6.1). */
export function skewMs(priority: number, masterIntervalCs: number): number {
  return ((256 - priority) * masterIntervalCs * 10) / 256;
}

/** Master_Down_Interval in ms: 3 * Master_Adver_Interval + Skew_Time (RFC 5798 6.1). */
export function masterDownMs(priority: number, masterIntervalCs: number): number {
  return 3 * masterIntervalCs * 10 + skewMs(priority, masterIntervalCs);
}

/** A machine in `init`, before its startup event. */
export function initialState(opts: {
  priority: number;
  intervalCs: number;
  preempt: boolean;
  preemptDelayMs?: number;
  address: number;
}): VrrpState {
  return {
    name: 'init',
    priority: opts.priority,
    intervalCs: opts.intervalCs,
    masterIntervalCs: opts.intervalCs,
    preempt: opts.preempt,
    preemptDelayMs: opts.preemptDelayMs ?? 0,
    preemptAfter: 0,
    address: opts.address,
    master: 0,
    faulty: false,
    resigned: false,
  };
}

function changed(from: VrrpState, to: VrrpState, why: string, actions: VrrpAction[]): StepResult {
  actions.push({ type: 'changed', from: from.name, to: to.name, why });
  return { state: to, actions };
}

/** Takes over now: announce, take the addresses, advertise every interval. */
function becomeMaster(s: VrrpState, why: string, pre: VrrpAction[] = []): StepResult {
  const next: VrrpState = { ...s, name: 'master', master: 0, resigned: false };
  const actions: VrrpAction[] = [
    ...pre,
    { type: 'send', priority: s.priority },
    { type: 'take-addresses' },
    { type: 'timer', timer: 'adver', ms: s.intervalCs * 10 },
  ];
  return changed(s, next, why, actions);
}

/** Waits for a master: Master_Down_Timer from the interval we know. */
function becomeBackup(s: VrrpState, why: string, masterIntervalCs: number, master: number, pre: VrrpAction[] = []): StepResult {
  const next: VrrpState = { ...s, name: 'backup', masterIntervalCs, master, resigned: false };
  const actions: VrrpAction[] = [...pre, { type: 'timer', timer: 'master-down', ms: masterDownMs(s.priority, masterIntervalCs) }];
  return s.name === 'backup' ? { state: next, actions } : changed(s, next, why, actions);
}

/** Leaves init or fault: the owner takes over at once, anyone else waits as backup. */
function start(s: VrrpState, why: string): StepResult {
  if (s.priority === OWNER_PRIORITY) return becomeMaster(s, `${why}; priority 255: address owner`);
  return becomeBackup(s, why, s.intervalCs, 0);
}

/**
 * The transition for one event. Pure: the same state and event give the same result,
 * nothing is mutated, and events that do not apply to the current state (a stale timer,
 * an advertisement in init or fault) leave it unchanged with no action.
 */
export function step(s: VrrpState, e: VrrpEvent): StepResult {
  switch (e.type) {
    case 'startup': {
      if (s.name !== 'init') return { state: s, actions: [] };
      const started: VrrpState = { ...s, preemptAfter: e.now + s.preemptDelayMs };
      if (started.faulty) return changed(s, { ...started, name: 'fault' }, 'started while a tracked check fails', []);
      return start(started, 'started');
    }
    case 'shutdown':
      return shutdown(s);
    case 'priority':
      return { state: { ...s, priority: e.priority }, actions: [] };
    case 'fault':
      return fault(s, e.faulty);
    case 'timer':
      return timer(s, e.timer);
    case 'advert':
      if (s.name === 'backup') return backupAdvert(s, e);
      if (s.name === 'master') return masterAdvert(s, e);
      return { state: s, actions: [] };
  }
}

function shutdown(s: VrrpState): StepResult {
  const next: VrrpState = { ...s, name: 'init', master: 0 };
  if (s.name === 'master') {
    // Priority 0: the backups take over after Skew_Time instead of Master_Down_Interval.
    return changed(s, next, 'stopped: resigned with priority 0', [{ type: 'cancel-timer' }, { type: 'send', priority: 0 }, { type: 'release-addresses' }]);
  }
  if (s.name === 'init') return { state: s, actions: [] };
  return changed(s, next, 'stopped', [{ type: 'cancel-timer' }]);
}

function fault(s: VrrpState, faulty: boolean): StepResult {
  const marked: VrrpState = { ...s, faulty };
  if (faulty === s.faulty) return { state: marked, actions: [] };
  if (faulty) {
    if (s.name === 'init') return { state: marked, actions: [] };
    const next: VrrpState = { ...marked, name: 'fault', master: 0 };
    if (s.name === 'master') {
      return changed(s, next, 'a tracked check failed: resigned with priority 0', [
        { type: 'cancel-timer' },
        { type: 'send', priority: 0 },
        { type: 'release-addresses' },
      ]);
    }
    return changed(s, next, 'a tracked check failed', [{ type: 'cancel-timer' }]);
  }
  if (s.name !== 'fault') return { state: marked, actions: [] };
  return start(marked, 'tracked checks pass again');
}

function timer(s: VrrpState, kind: TimerKind): StepResult {
  if (kind === 'adver' && s.name === 'master') {
    return { state: s, actions: [{ type: 'send', priority: s.priority }, { type: 'timer', timer: 'adver', ms: s.intervalCs * 10 }] };
  }
  if (kind === 'master-down' && s.name === 'backup') {
    const why = s.resigned
      ? `the master resigned (priority 0): took over after Skew_Time ${formatMs(skewMs(s.priority, s.masterIntervalCs))}`
      : `no advertisement from a master for ${formatMs(masterDownMs(s.priority, s.masterIntervalCs))} (Master_Down_Interval)`;
    return becomeMaster(s, why);
  }
  return { state: s, actions: [] };
}

function backupAdvert(s: VrrpState, e: Extract<VrrpEvent, { type: 'advert' }>): StepResult {
  if (e.priority === 0) {
    // The master resigned: take over after Skew_Time unless a better backup speaks first.
    return { state: { ...s, master: 0, resigned: true }, actions: [{ type: 'timer', timer: 'master-down', ms: skewMs(s.priority, s.masterIntervalCs) }] };
  }
  const mayPreempt = s.preempt && e.now >= s.preemptAfter;
  if (!mayPreempt || e.priority >= s.priority) {
    return becomeBackup(s, '', e.intervalCs, e.source);
  }
  // A lower-priority master while we may preempt: ignore it, so Master_Down_Timer fires.
  return { state: s, actions: [] };
}

function masterAdvert(s: VrrpState, e: Extract<VrrpEvent, { type: 'advert' }>): StepResult {
  if (e.priority === 0) {
    // Another master resigned: advertise now so its backups learn who is master.
    return { state: s, actions: [{ type: 'send', priority: s.priority }, { type: 'timer', timer: 'adver', ms: s.intervalCs * 10 }] };
  }
  if (e.priority > s.priority || (e.priority === s.priority && e.source > s.address)) {
    const why = e.priority > s.priority ? `a master with higher priority ${e.priority} (ours ${s.priority})` : `a master with equal priority ${e.priority} and a higher address`;
    return becomeBackup(s, `${why} advertises: ${ipText(e.source)}`, e.intervalCs, e.source, [{ type: 'cancel-timer' }, { type: 'release-addresses' }]);
  }
  return { state: s, actions: [] };
}

function ipText(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function formatMs(ms: number): string {
  return `${Math.round(ms * 10) / 10} ms`;
}

/**
 * One VRRP instance at run time: feeds events (start-up, advertisements, timer expiry,
 * tracking) to the pure state machine and carries out the actions it returns: sending
 * advertisements, the single timer, taking and releasing the virtual addresses with
 * gratuitous ARP, and reporting changes (log line, diagnostics event, notify hook).
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import { VirtualAddresses } from './addresses.js';
import { publishVrrpEvent } from './events.js';
import { GratuitousArp } from './garp.js';
import { NotifyHook, stateWord } from './notify.js';
import { encodeAdvert, ipv4ToInt, VRRP_GROUP, type ReceivedAdvert } from './packet.js';
import type { VrrpSocket } from './socket.js';
import { initialState, step, type VrrpAction, type VrrpEvent, type VrrpState } from './state-machine.js';
import { effectivePriority, type TrackOutcome } from './tracker.js';

export class VrrpRouter {
  private state: VrrpState;
  private timer: NodeJS.Timeout | null = null;
  private readonly addresses: VirtualAddresses;
  private readonly garp: GratuitousArp;
  private readonly notify: NotifyHook | null;
  private readonly peers: ReadonlySet<string>;
  /** The last take or release of the addresses, for stop() to wait on. */
  private addressWork: Promise<void> = Promise.resolve();
  /** Advertisements accepted from peers, and sent. */
  received = 0;
  sent = 0;

  constructor(
    /** Replaced only by retune() (a reload that changed the priority alone). */
    public config: VrrpInstanceConfig,
    private readonly socket: VrrpSocket,
    /** Our source address: the interface's primary IPv4 address or `source`. */
    readonly source: string,
    private readonly log: (msg: string) => void,
  ) {
    this.state = initialState({
      priority: config.priority,
      intervalCs: config.advertIntervalCs,
      preempt: config.preempt,
      preemptDelayMs: config.preemptDelayMs,
      address: ipv4ToInt(source),
    });
    this.addresses = new VirtualAddresses(config.interface, config.virtualIps, log);
    this.garp = new GratuitousArp(
      config.interface,
      config.virtualIps.map((v) => v.address),
      config.garp,
      log,
    );
    this.notify = config.notify === null ? null : new NotifyHook(config.notify, config.name, log);
    this.peers = new Set(config.unicastPeers);
  }

  /** The state machine's current state (name, effective priority, known master). */
  get current(): VrrpState {
    return this.state;
  }

  /**
   * Removes addresses left over from an earlier run (a process killed without its
   * stop), then starts: the owner becomes master at once, anyone else backup.
   */
  async start(): Promise<void> {
    await this.addresses.release();
    this.dispatch({ type: 'startup', now: Date.now() });
  }

  /** A decoded advertisement for this instance's VRID. */
  receive(a: ReceivedAdvert): void {
    if (a.source === this.source) {
      this.socket.drop('own');
      return;
    }
    if (this.peers.size > 0 && !this.peers.has(a.source)) {
      this.socket.drop('peer');
      return;
    }
    this.received++;
    this.dispatch({ type: 'advert', priority: a.priority, intervalCs: a.intervalCs, source: ipv4ToInt(a.source), now: Date.now() });
  }

  /** Tracking changed: a new effective priority, and fault or not. */
  track(o: TrackOutcome): void {
    const priority = effectivePriority(this.config.priority, o.penalty);
    const why = o.failing.length === 0 ? 'every tracked check passes' : `failing: ${o.failing.join(', ')}`;
    if (priority !== this.state.priority) {
      const from = this.state.priority;
      this.dispatch({ type: 'priority', priority });
      this.log(`${this.config.name}: priority ${from} -> ${priority} (${why})`);
      publishVrrpEvent({ instance: this.config.name, kind: 'priority', from: this.state.name, to: this.state.name, priority, reason: why });
    }
    if (o.faulty !== this.state.faulty) this.dispatch({ type: 'fault', faulty: o.faulty });
  }

  /**
   * A reload changed only the configured priority: it takes effect as a priority change
   * (RFC 5798: a master advertises it, a backup compares it), without resigning, so the
   * virtual addresses move only if the new priorities say so.
   */
  retune(next: VrrpInstanceConfig, o: TrackOutcome): void {
    this.log(`${this.config.name}: configured priority ${this.config.priority} -> ${next.priority} (reload)`);
    this.config = next;
    this.track(o);
  }

  /** A clean stop: a master resigns with priority 0 and removes its addresses. Resolves once they are gone. */
  async stop(): Promise<void> {
    this.dispatch({ type: 'shutdown' });
    this.garp.stop();
    await this.addressWork;
    await this.addresses.close();
  }

  private dispatch(e: VrrpEvent): void {
    const r = step(this.state, e);
    this.state = r.state;
    for (const a of r.actions) this.execute(a);
  }

  private execute(a: VrrpAction): void {
    switch (a.type) {
      case 'send':
        this.send(a.priority);
        return;
      case 'timer':
        this.clearTimer();
        this.timer = setTimeout(() => {
          this.timer = null;
          this.dispatch({ type: 'timer', timer: a.timer });
        }, a.ms);
        return;
      case 'cancel-timer':
        this.clearTimer();
        return;
      case 'take-addresses':
        this.addressWork = this.addresses.take().then(() => {
          if (this.state.name === 'master') this.garp.start();
        });
        return;
      case 'release-addresses':
        this.garp.stop();
        this.addressWork = this.addresses.release();
        return;
      case 'changed': {
        const priority = a.to === 'init' ? 0 : this.state.priority;
        this.log(`${this.config.name}: ${stateWord(a.from)} -> ${stateWord(a.to)} (${a.why})`);
        publishVrrpEvent({ instance: this.config.name, kind: 'state', from: a.from, to: a.to, priority, reason: a.why });
        void this.notify?.run(a.to, priority);
        return;
      }
    }
  }

  private send(priority: number): void {
    const advert = { vrid: this.config.vrid, priority, intervalCs: this.config.advertIntervalCs, addresses: this.config.virtualIps.map((v) => v.address) };
    const destinations = this.peers.size > 0 ? [...this.peers] : [VRRP_GROUP];
    for (const dst of destinations) this.socket.send(encodeAdvert(advert, this.source, dst), this.source, dst);
    this.sent++;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * The `vrrp:` section at run time: one VRRP socket per interface shared by the instances
 * on it (a packet for a VRID no instance has is counted and dropped), one VrrpRouter
 * per instance, and its tracking. Lifecycle: `start()`, `stop()`; `update()` re-reads
 * pool health (called on every server or pool event of the shared pools).
 */
import type { Pool } from '../backend/pool.js';
import type { VrrpConfig, VrrpInstanceConfig } from '../config/types.js';
import { inSubnet } from '../config/vrrp/parse.js';
import { poolChannel, serverStateChannel } from '../core/events.js';
import { FulcrumError } from '../core/errors.js';
import { readInterface, type InterfaceInfo } from './interface.js';
import { zeroDrops, type DropCounts, type ReceivedAdvert } from './packet.js';
import { VrrpRouter } from './router.js';
import type { VrrpSocket } from './socket.js';
import type { VrrpStateName } from './state-machine.js';
import { Tracker, type TrackedCheck } from './tracker.js';
import { log } from '../core/log.js';
import { probeListener, type TrackableListener } from '../runtime/listener-probe.js';

export type { TrackableListener };


export interface VrrpServiceOptions {
  /** Where log lines go (default: stderr, prefixed "fulcrum: vrrp "). */
  log?: (msg: string) => void;
}

/** What `status()` reports per instance. */
export interface VrrpInstanceStatus {
  name: string;
  state: VrrpStateName;
  priority: number;
  received: number;
  sent: number;
}

export class VrrpService {
  private readonly sockets = new Map<string, VrrpSocket>();
  private readonly routers: VrrpRouter[] = [];
  private readonly trackers: Tracker[] = [];
  private readonly log: (msg: string) => void;
  private readonly onHealth = () => queueMicrotask(() => this.update());
  private started = false;
  private stopped = false;

  constructor(
    /** Replaced only by retune(). */
    public config: VrrpConfig,
    private readonly pools: ReadonlyMap<string, Pool>,
    private readonly listeners: readonly TrackableListener[],
    opts: VrrpServiceOptions = {},
  ) {
    this.log = opts.log ?? ((msg) => log().info(`vrrp ${msg}`));
  }

  /**
   * Reads the interfaces, opens the sockets and starts every instance. Throws
   * FULCRUM_ERR_CONFIG (a missing interface, no IPv4 address to send from, a virtual
   * address outside the interface's subnets, no permission for a raw socket), after
   * closing whatever it opened. Call once.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('VrrpService.start() called twice');
    this.started = true;
    // Loaded here: the raw-socket addon is needed only by a configuration with VRRP.
    let socketModule: typeof import('./socket.js');
    try {
      socketModule = await import('./socket.js');
    } catch (err) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp: cannot load the raw-socket addon (was it built? npm rebuild raw-socket): ${(err as Error).message}`, { cause: err });
    }
    try {
      for (const inst of this.config.instances) {
        const iface = readInterface(inst.interface, inst.name);
        const source = pickSource(inst, iface);
        const socket = this.socketFor(iface, socketModule.VrrpSocket);
        const router = new VrrpRouter(inst, socket, source, (m) => this.log(m));
        this.routers.push(router);
        const tracker = new Tracker(this.checksFor(inst), inst.trackIntervalMs, (o) => router.track(o));
        this.trackers.push(tracker);
      }
    } catch (err) {
      for (const s of this.sockets.values()) await s.close();
      throw err;
    }
    serverStateChannel.subscribe(this.onHealth);
    poolChannel.subscribe(this.onHealth);
    await Promise.all(this.routers.map((r) => r.start()));
    this.trackers.forEach((t, i) => {
      t.start();
      // A check failing already at start-up is applied before the first advertisement.
      this.routers[i]!.track(t.outcome);
    });
  }

  /** Re-evaluates tracking now (pool health changed). Cheap when nothing tracks a pool. */
  update(): void {
    if (this.stopped) return;
    for (const t of this.trackers) t.evaluate();
  }

  /**
   * Applies a reloaded `vrrp` section in place when it differs from the running one only
   * in instances' priorities (and neither is 255, the owner's): each becomes a priority
   * change. Returns false, changing nothing, when anything else differs (a restart is
   * needed).
   */
  retune(next: VrrpConfig): boolean {
    if (this.stopped || !this.started || !onlyPrioritiesDiffer(this.config, next)) return false;
    const now = this.config.instances;
    next.instances.forEach((inst, i) => {
      if (inst.priority !== now[i]!.priority) this.routers[i]!.retune(inst, this.trackers[i]!.outcome);
    });
    this.config = next;
    return true;
  }

  /** Per instance: state, effective priority, advertisements received and sent. */
  status(): VrrpInstanceStatus[] {
    return this.routers.map((r) => ({ name: r.config.name, state: r.current.name, priority: r.current.priority, received: r.received, sent: r.sent }));
  }

  /** Packets dropped, by reason, over every interface. */
  drops(): DropCounts {
    const total = zeroDrops();
    for (const s of this.sockets.values()) for (const [k, v] of Object.entries(s.drops)) total[k as keyof DropCounts] += v;
    return total;
  }

  /**
   * A clean stop: every master resigns (priority 0, so its peer takes over after
   * Skew_Time rather than Master_Down_Interval) and removes its addresses; then the
   * sockets close. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    serverStateChannel.unsubscribe(this.onHealth);
    poolChannel.unsubscribe(this.onHealth);
    for (const t of this.trackers) t.stop();
    await Promise.all(this.routers.map((r) => r.stop()));
    await Promise.all([...this.sockets.values()].map((s) => s.close()));
  }

  private socketFor(iface: InterfaceInfo, Socket: typeof VrrpSocket): VrrpSocket {
    let socket = this.sockets.get(iface.name);
    if (socket === undefined) {
      const routers = this.routers;
      const onAdvert = (a: ReceivedAdvert) => {
        const r = routers.find((x) => x.config.vrid === a.vrid && x.config.interface === iface.name);
        if (r === undefined) socket!.drop('vrid');
        else r.receive(a);
      };
      socket = new Socket(iface, onAdvert, (m) => this.log(m));
      this.sockets.set(iface.name, socket);
    }
    return socket;
  }

  private checksFor(inst: VrrpInstanceConfig): TrackedCheck[] {
    return inst.track.map((t): TrackedCheck => {
      if (t.kind === 'pool') {
        if (!this.pools.has(t.name)) throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp ${inst.name}: tracks pool ${t.name}, which does not exist`);
        // looked up at each check: a reload replaces the pools under the same names
        return { label: `pool ${t.name}`, weight: t.weight, check: () => (this.pools.get(t.name)?.usable.length ?? 0) > 0 };
      }
      const listener = this.listeners.find((l) => l.name === t.name);
      if (listener === undefined) throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp ${inst.name}: tracks listener ${t.name}, which does not exist`);
      return { label: `listener ${t.name}`, weight: t.weight, check: () => probeListener(listener, Math.min(1000, inst.trackIntervalMs)) };
    });
  }
}

/**
 * Whether two `vrrp` sections differ at most in instances' priorities, none of them
 * 255 (becoming or ceasing to be the address owner changes more than a priority).
 */
export function onlyPrioritiesDiffer(a: VrrpConfig, b: VrrpConfig): boolean {
  if (a.instances.length !== b.instances.length) return false;
  if (JSON.stringify({ ...a, instances: [] }) !== JSON.stringify({ ...b, instances: [] })) return false;
  return a.instances.every((x, i) => {
    const y = b.instances[i]!;
    if (x.priority === 255 || y.priority === 255) return JSON.stringify(x) === JSON.stringify(y);
    return JSON.stringify({ ...x, priority: 0 }) === JSON.stringify({ ...y, priority: 0 });
  });
}

/**
 * The address advertisements come from: `source` when configured, else the interface's
 * first IPv4 address that is not a virtual one. Also checks, now that the interface is
 * known, that every virtual address lies in one of its subnets.
 */
function pickSource(inst: VrrpInstanceConfig, iface: InterfaceInfo): string {
  const vips = new Set(inst.virtualIps.map((v) => v.address));
  const own = iface.addresses.filter((a) => !vips.has(a.address));
  const source = inst.source ?? own[0]?.address;
  if (source === undefined) {
    throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp ${inst.name}: interface ${iface.name} has no IPv4 address of its own to send advertisements from (give it one, or set \`source\`)`);
  }
  for (const v of inst.virtualIps) {
    if (own.length > 0 && !own.some((a) => inSubnet(v.address, a.address, a.prefix))) {
      throw new FulcrumError(
        'FULCRUM_ERR_CONFIG',
        `vrrp ${inst.name}: virtual address ${v.address} is outside every subnet of ${iface.name} (${own.map((a) => `${a.address}/${a.prefix}`).join(', ')})`,
      );
    }
  }
  return source;
}


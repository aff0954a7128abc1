/**
 * One generation of worker processes: the workers started for one configuration. A
 * reload starts a new generation beside the old one and drains the old one once the new
 * one listens, so the listening sockets (held by the primary, node:cluster) never close
 * while a configuration is in force. A worker of the current generation that dies is
 * replaced in its slot.
 */
import cluster, { type Worker } from 'node:cluster';
import { tableOwner, TableOwner } from '../limits/table.js';
import type { Config } from '../config/types.js';
import { log } from '../core/log.js';
import type { AdminUpdate, BoundListener, FromWorker, HealthState, InstanceCounters, MemorySample, ToWorker, ServerRef } from './messages.js';

export interface GenerationHooks {
  /** The primary's health states now (for workers starting). */
  health(): HealthState[];
  /** The operator's server states and weights now (runtime API), for workers starting. */
  admin(): AdminUpdate[];
  counters(workerId: number, c: InstanceCounters, memory: MemorySample): void;
  /** A worker exited (its counters are gone). */
  gone(workerId: number): void;
  /** A worker's passive health ejected a server. */
  ejected(server: ServerRef): void;
  /** TLS session-ticket keys shared by every worker of every generation. */
  readonly ticketKeys: Buffer;
}

/** The listeners a worker slot runs: UDP listeners only in slot 0 (a UDP flow must see one process). */
export function listenersFor(config: Config, slot: number): Config['listeners'] {
  return slot === 0 ? config.listeners : config.listeners.filter((l) => l.mode !== 'udp');
}

/** How many workers a configuration wants: none without listeners, one when only UDP listens. */
export function workerCount(config: Config, wanted: number): number {
  if (config.listeners.length === 0) return 0;
  if (config.listeners.every((l) => l.mode === 'udp')) return 1;
  return wanted;
}

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that lived this long before dying resets the restart back-off. */
const STABLE_MS = 10_000;

export class Generation {
  private readonly workers = new Map<number, Worker>();
  private readonly startedAt = new Map<number, number>();
  private restartDelay = RESTART_MIN_MS;
  private draining = false;
  private readonly exited = new Set<Promise<void>>();

  constructor(
    readonly id: number,
    readonly config: Config,
    readonly size: number,
    private readonly hooks: GenerationHooks,
  ) {}

  /** Worker ids and pids, by slot. */
  members(): Array<{ slot: number; id: number; pid: number | undefined }> {
    return [...this.workers].map(([slot, w]) => ({ slot, id: w.id, pid: w.process.pid }));
  }

  /**
   * Forks every worker and resolves with the listeners as the first worker bound them,
   * once all are listening. Rejects (after stopping the workers already forked) when
   * one cannot start.
   */
  async start(): Promise<BoundListener[]> {
    if (this.size === 0) return [];
    const results = await Promise.allSettled([...Array(this.size).keys()].map((slot) => this.fork(slot)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await this.kill();
      throw (failed as PromiseRejectedResult).reason;
    }
    return (results[0] as PromiseFulfilledResult<BoundListener[]>).value;
  }

  private fork(slot: number): Promise<BoundListener[]> {
    const limits = tableOwner();
    const column = limits?.lease() ?? 0;
    const worker = cluster.fork({ FULCRUM_WORKER_SLOT: String(slot), ...TableOwner.env(limits, column) });
    worker.once('exit', () => limits?.giveBack(column));
    this.workers.set(slot, worker);
    this.startedAt.set(slot, Date.now());
    const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.exited.add(done);
    void done.then(() => this.exited.delete(done));
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'hello') {
          const config: Config = { ...this.config, dns: null, listeners: listenersFor(this.config, slot) };
          this.send(worker, { t: 'start', config, health: this.hooks.health(), admin: this.hooks.admin(), ticketKeys: this.hooks.ticketKeys });
        } else if (m.t === 'ready') {
          ready = true;
          log().info(`worker ${worker.id} (pid ${worker.process.pid}, generation ${this.id}) listening`);
          resolve(m.listeners);
        } else if (m.t === 'failed') {
          reject(new Error(m.message));
        } else if (m.t === 'counters' || (m.t === 'metrics' && m.counters !== undefined)) {
          this.hooks.counters(worker.id, m.counters!, m.memory!);
        } else if (m.t === 'ejected') {
          this.hooks.ejected(m.server);
        }
      });
      worker.once('exit', (code, signal) => {
        this.hooks.gone(worker.id);
        if (this.workers.get(slot) === worker) this.workers.delete(slot);
        if (!ready) {
          reject(new Error(`worker ${worker.id} exited while starting (${signal ?? `code ${code}`})`));
          return;
        }
        if (!this.draining) this.replace(slot, worker, code, signal);
      });
      worker.on('error', () => {
        /* IPC to a dying worker: its exit is what counts */
      });
    });
  }

  /** A worker died while in service: log it and start another in its slot, backing off if it keeps dying. */
  private replace(slot: number, dead: Worker, code: number | null, signal: string | null): void {
    const lived = Date.now() - (this.startedAt.get(slot) ?? 0);
    if (lived >= STABLE_MS) this.restartDelay = RESTART_MIN_MS;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    log().error(`worker ${dead.id} (pid ${dead.process.pid}) died (${signal ?? `exit code ${code}`}) after ${lived} ms; starting another in ${delay} ms`);
    setTimeout(() => {
      if (this.draining) return;
      this.fork(slot).then(
        () => log().info(`worker ${this.workers.get(slot)?.id} (pid ${this.workers.get(slot)?.process.pid}) replaced worker ${dead.id}`),
        (err: Error) => log().error(`replacing worker ${dead.id}: ${err.message}`),
      );
    }, delay).unref();
  }

  broadcast(m: ToWorker): void {
    for (const w of this.workers.values()) this.send(w, m);
  }

  private send(w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m, undefined, () => {});
  }

  /**
   * Tells every worker to stop accepting and finish (see ToWorker 'drain'); resolves
   * when all have exited. A worker still there `graceMs` + 5 s later is killed.
   */
  async drain(graceMs: number, closeIdle: boolean): Promise<void> {
    this.draining = true;
    this.broadcast({ t: 'drain', graceMs, closeIdle });
    const timer = setTimeout(() => void this.kill(), graceMs + 5000);
    await Promise.all([...this.exited]);
    clearTimeout(timer);
  }

  /** Ends every worker at once (SIGKILL) and resolves when they are gone. */
  async kill(): Promise<void> {
    this.draining = true;
    for (const w of this.workers.values()) {
      try {
        w.process.kill('SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await Promise.all([...this.exited]);
  }
}

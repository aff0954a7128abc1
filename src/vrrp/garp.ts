/**
 * Gratuitous ARP for the virtual addresses of a new master, so that neighbours (the
 * router, clients on the link) send to this machine at once instead of waiting for
 * their ARP entry to expire: `count` announcements `intervalMs` apart, the same again
 * `repeatAfterMs` later, then every `refreshMs` while master (0: never). Each
 * announcement is one `arping -U -c 1` (iputils-arping: an ARP request with sender and
 * target both the virtual address) per address; arping lingers about a second
 * after sending, and whatever still runs is ended by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { VrrpInstanceConfig } from '../config/types.js';

/** iputils-arping. */
const ARPING = 'arping';

export class GratuitousArp {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly children = new Set<ChildProcess>();
  private missingReported = false;
  /** Announcements sent (one per address per packet). */
  sent = 0;

  constructor(
    private readonly iface: string,
    private readonly addresses: readonly string[],
    private readonly cfg: VrrpInstanceConfig['garp'],
    private readonly log: (msg: string) => void,
  ) {}

  /** Starts announcing (after stopping any earlier schedule). */
  start(): void {
    this.stop();
    if (this.cfg.count === 0) return;
    this.burst();
    if (this.cfg.repeatAfterMs > 0) this.after(this.cfg.repeatAfterMs, () => this.burst());
    if (this.cfg.refreshMs > 0) {
      const refresh = setInterval(() => this.burst(), this.cfg.refreshMs);
      refresh.unref();
      this.timers.add(refresh);
    }
  }

  /** Cancels what is scheduled and ends arping processes still running. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private burst(): void {
    for (let i = 0; i < this.cfg.count; i++) {
      if (i === 0 || this.cfg.intervalMs === 0) this.announce();
      else this.after(i * this.cfg.intervalMs, () => this.announce());
    }
  }

  private announce(): void {
    for (const addr of this.addresses) {
      const child = spawn(ARPING, ['-q', '-U', '-c', '1', '-I', this.iface, addr], { stdio: ['ignore', 'ignore', 'pipe'] });
      this.children.add(child);
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e: NodeJS.ErrnoException) => {
        this.children.delete(child);
        if (this.missingReported) return;
        this.missingReported = true;
        const hint = e.code === 'ENOENT' ? ' (install iputils-arping)' : '';
        this.log(`cannot run ${ARPING} for gratuitous ARP: ${e.message}${hint}; neighbours learn the move only when their ARP entries expire`);
      });
      child.on('close', (code, signal) => {
        this.children.delete(child);
        if (code !== 0 && signal === null && code !== null) this.log(`arping for ${addr} on ${this.iface} failed: ${err.trim() || `exit ${code}`}`);
      });
      this.sent++;
    }
  }
}

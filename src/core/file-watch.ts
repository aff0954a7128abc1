import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** Quiet time after a change event before reloading (editors write in several steps). */
const DEBOUNCE_MS = 100;
/** Polling catches what fs.watch misses (network file systems, some editors). */
export const POLL_MS = 5_000;

/** What identifies a version of a file: modification time, size, inode. Throws when it cannot be stat'ed. */
export function fileStamp(path: string): string {
  const s = statSync(path);
  return `${s.mtimeMs}:${s.size}:${s.ino}`;
}

/**
 * Calls `onChange` when a file changes: watches its directory (so a file replaced by
 * rename is seen too) and polls its stamp every POLL_MS, debounced. The owner reads the
 * file in `onChange` and reports the version it read with `seen(fileStamp(path))`, so
 * polling fires only for a later version. Timers are unref'd; `close()` is idempotent.
 */
export class FileWatch {
  private watcher: FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastStamp = '';
  private closed = false;

  /**
   * @param label how log lines name the file ("steering file /etc/x")
   */
  constructor(
    private readonly path: string,
    private readonly label: string,
    private readonly onChange: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  /** Records the version just read. */
  seen(stamp: string): void {
    this.lastStamp = stamp;
  }

  /** Starts watching and polling (once). */
  start(): void {
    if (this.closed || this.pollTimer !== null) return;
    const name = basename(this.path);
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.toString() === name) this.schedule();
      });
      this.watcher.on('error', (err) => this.log(`${this.label}: watch failed (${err.message}); polling every ${POLL_MS / 1000} s`));
    } catch (err) {
      this.log(`${this.label}: cannot watch it (${(err as Error).message}); polling every ${POLL_MS / 1000} s`);
    }
    this.pollTimer = setInterval(() => {
      let now: string;
      try {
        now = fileStamp(this.path);
      } catch {
        return;
      }
      if (now !== this.lastStamp) this.schedule();
    }, POLL_MS);
    this.pollTimer.unref();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      if (!this.closed) this.onChange();
    }, DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** Stops watching and polling. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.pollTimer = this.debounce = null;
  }
}

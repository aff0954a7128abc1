/**
 * Steering tables for pool-backed names: client network (CIDR) -> preferred pool, from
 * inline entries plus an optional file that is re-read whenever it changes.
 */
import { watch, readFileSync, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CidrTable } from './cidr.js';

/** Waits this long after a change event before re-reading (editors write in several steps). */
const RELOAD_DEBOUNCE_MS = 100;
/** Also checks the file's modification time this often, in case a watch event was missed. */
const POLL_MS = 5_000;

/** One line of a steering file that was ignored, with why. */
export interface SteeringProblem {
  line: number;
  text: string;
  reason: string;
}

/**
 * Parses a steering file's text: one `CIDR POOL` per line, `#` starts a comment, blank
 * lines are skipped. Lines that are malformed or name a pool not in `knownPools` are
 * returned as problems and left out; the rest is returned in order.
 */
export function parseSteeringText(text: string, knownPools: ReadonlySet<string>): { entries: Array<{ cidr: string; pool: string }>; problems: SteeringProblem[] } {
  const entries: Array<{ cidr: string; pool: string }> = [];
  const problems: SteeringProblem[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (body === '') continue;
    const fields = body.split(/\s+/);
    if (fields.length !== 2) {
      problems.push({ line: i + 1, text: raw, reason: 'expected "CIDR POOL"' });
      continue;
    }
    const [cidr, pool] = fields as [string, string];
    try {
      new CidrTable<string>().add(cidr, pool);
    } catch (err) {
      problems.push({ line: i + 1, text: raw, reason: (err as Error).message });
      continue;
    }
    if (!knownPools.has(pool)) {
      problems.push({ line: i + 1, text: raw, reason: `no pool named ${JSON.stringify(pool)}` });
      continue;
    }
    entries.push({ cidr, pool });
  }
  return { entries, problems };
}

/**
 * The live steering table of one pool-backed name. `table` is replaced whole on reload,
 * so a lookup always sees one consistent version. File entries are added after the
 * inline ones (a CIDR in both takes the file's pool). A file that cannot be read keeps
 * the previous table; bad lines are logged and skipped.
 */
export class SteeringTable {
  /** The current table (pool names as values). */
  table: CidrTable<string>;
  private watcher: FSWatcher | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastMtime = -1;
  private closed = false;
  /** Successful reloads of the file since start (for tests). */
  reloads = 0;

  /**
   * Builds the table from the inline entries and, when `file` is set, reads the file
   * (a read error at start is logged and leaves the inline entries in use).
   */
  constructor(
    private readonly inline: ReadonlyArray<{ cidr: string; pool: string }>,
    private readonly file: string | null,
    private readonly knownPools: ReadonlySet<string>,
    private readonly log: (msg: string) => void,
    private readonly onChange: () => void = () => {},
  ) {
    this.table = this.build([]);
    if (file !== null) this.reload();
  }

  private build(extra: ReadonlyArray<{ cidr: string; pool: string }>): CidrTable<string> {
    const t = new CidrTable<string>();
    for (const e of [...this.inline, ...extra]) {
      try {
        if (!this.knownPools.has(e.pool)) throw new Error(`no pool named ${JSON.stringify(e.pool)}`);
        t.add(e.cidr, e.pool);
      } catch (err) {
        this.log(`steering entry ${e.cidr} -> ${e.pool} ignored: ${(err as Error).message}`);
      }
    }
    return t;
  }

  /** Re-reads the file now; returns false (keeping the old table) when it cannot be read. */
  reload(): boolean {
    if (this.file === null) return false;
    let text: string;
    try {
      this.lastMtime = statSync(this.file).mtimeMs;
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      this.log(`steering file ${this.file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); keeping the previous table`);
      return false;
    }
    const { entries, problems } = parseSteeringText(text, this.knownPools);
    for (const p of problems) this.log(`steering file ${this.file}:${p.line}: ${p.reason}; line ignored: ${p.text.trim()}`);
    this.table = this.build(entries);
    this.reloads++;
    this.onChange();
    return true;
  }

  /** Starts watching the file (its directory, so replacing the file by rename is seen too). */
  watch(): void {
    if (this.file === null || this.closed || this.watcher !== null) return;
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed.toString() === name) this.schedule();
      });
      this.watcher.on('error', (err) => this.log(`steering file ${this.file}: watch failed (${err.message}); polling every ${POLL_MS / 1000} s`));
    } catch (err) {
      this.log(`steering file ${this.file}: cannot watch it (${(err as Error).message}); polling every ${POLL_MS / 1000} s`);
    }
    this.pollTimer = setInterval(() => {
      let mtime = -1;
      try {
        mtime = statSync(this.file!).mtimeMs;
      } catch {
        return;
      }
      if (mtime !== this.lastMtime) this.schedule();
    }, POLL_MS);
    this.pollTimer.unref();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      if (!this.closed) this.reload();
    }, RELOAD_DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.pollTimer = this.debounce = null;
  }
}

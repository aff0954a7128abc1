/**
 * Steering tables for pool-backed names: client network (CIDR) -> preferred pool, from
 * inline entries plus an optional file that is re-read whenever it changes.
 */
import { readFileSync } from 'node:fs';
import { FileWatch, fileStamp } from '../core/file-watch.js';
import { CidrTable } from './cidr.js';


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
  private readonly watcher: FileWatch | null;
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
    this.watcher = file === null ? null : new FileWatch(file, `steering file ${file}`, () => this.reload(), log);
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
      this.watcher?.seen(fileStamp(this.file));
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

  /** Starts watching the file for changes (see FileWatch). */
  watch(): void {
    this.watcher?.start();
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.watcher?.close();
  }
}

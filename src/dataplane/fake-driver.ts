/**
 * A driver that keeps the "kernel's" tables in memory, for unit tests of the data plane's
 * logic where no kernel is at hand. It applies a transaction the way nft does, all or
 * nothing: `add table` creates a table when missing, `delete table` removes it with its
 * contents, other `add`s append to their table. failNext() makes the next apply fail.
 */
import { dataplaneError, type DataplaneDriver } from './driver.js';
import type { LiveCounter } from './counters.js';
import type { NftDocument, NftObject } from './render.js';

export class FakeDriver implements DataplaneDriver {
  /** Every document applied successfully, in order. */
  readonly applied: NftDocument[] = [];
  /** Attempts, failed ones included. */
  attempts = 0;
  private tables = new Map<string, NftObject[]>();
  private failure: string | null = null;
  private readonly counts = new Map<string, { packets: number; bytes: number }>();
  /** Resolves apply() after this many ms (to test changes that arrive during an apply). */
  delayMs = 0;

  /** The next apply() fails with this message and changes nothing. */
  failNext(message = 'simulated failure'): void {
    this.failure = message;
  }

  async apply(doc: NftDocument): Promise<void> {
    this.attempts++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failure !== null) {
      const m = this.failure;
      this.failure = null;
      throw dataplaneError(`nft refused the transaction in the fake kernel, so the previous rules stay in force: ${m}`);
    }
    const next = new Map([...this.tables].map(([k, v]) => [k, [...v]]));
    for (const cmd of doc.nftables) {
      const [verb] = Object.keys(cmd);
      const obj = cmd[verb!] as NftObject;
      const [kind] = Object.keys(obj);
      const body = obj[kind!] as { family: string; name?: string; table?: string };
      const key = `${body.family} ${kind === 'table' ? body.name : body.table}`;
      if (kind === 'table' && verb === 'add') {
        if (!next.has(key)) next.set(key, []);
      } else if (kind === 'table' && verb === 'delete') {
        if (!next.delete(key)) throw dataplaneError(`fake kernel: no table ${key} to delete`);
      } else if (verb === 'add') {
        const t = next.get(key);
        if (t === undefined) throw dataplaneError(`fake kernel: no table ${key} for a ${kind}`);
        t.push(obj);
      } else {
        throw dataplaneError(`fake kernel: unsupported command ${verb} ${kind}`);
      }
    }
    this.tables = next;
    this.counts.clear();
    this.applied.push(doc);
  }

  /** The counter objects of the tables, with the counts set by count() (0 otherwise). */
  async counters(): Promise<LiveCounter[]> {
    return [...this.tables.values()].flatMap((objects) =>
      objects.flatMap((o) => {
        const c = o.counter as { name?: string } | undefined;
        return c?.name === undefined ? [] : [{ name: c.name, ...(this.counts.get(c.name) ?? { packets: 0, bytes: 0 }) }];
      }),
    );
  }

  /** Sets what a counter has counted (until the next apply rebuilds the tables, as the kernel's do). */
  count(name: string, packets: number, bytes: number): void {
    this.counts.set(name, { packets, bytes });
  }

  async list(): Promise<NftObject[]> {
    return [...this.tables].flatMap(([key, objects]) => {
      const [family, name] = key.split(' ');
      return [{ table: { family, name } }, ...objects];
    });
  }
}

/**
 * The real driver: applies transactions with `nft -j -f FILE` (libnftables JSON) and
 * lists Fulcrum's tables with `nft -j list`, turning nft's failures into messages that
 * say what to do.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FulcrumError } from '../core/errors.js';
import { dataplaneError, type DataplaneDriver } from './driver.js';
import type { LiveCounter } from './counters.js';
import type { Host } from './host.js';
import type { NftDocument, NftObject } from './render.js';
import { TABLE_NAME } from './state.js';

/** nft's complaint in a few words, and what to do about the usual ones. */
export function explainNftFailure(stderr: string, where: string): string {
  const text = stderr.trim();
  if (/Operation not permitted/i.test(text)) return `nft was refused by the kernel in ${where}: programming nftables needs root or CAP_NET_ADMIN`;
  if (/Protocol not supported|Address family not supported|cache initialization failed/i.test(text)) {
    return `the kernel of ${where} has no nftables support (nf_tables): load the nf_tables module or use a kernel built with CONFIG_NF_TABLES (nft said: ${firstLines(text)})`;
  }
  return `nft refused the transaction in ${where}, so the previous rules stay in force: ${firstLines(text)}`;
}

function firstLines(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^\s*\^+\s*$/.test(l));
  return lines.slice(0, 3).join(' | ').slice(0, 600) || '(no message)';
}

function notInstalled(err: unknown): FulcrumError | null {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
  return dataplaneError('nft is not installed: the kernel data plane programs nftables with it (Debian: apt-get install nftables)', err);
}

/** The real driver: `nft -j -f -` (libnftables JSON) and `nft -j list`. */
export class NftDriver implements DataplaneDriver {
  constructor(
    private readonly host: Host,
    private readonly nft = 'nft',
  ) {}

  /**
   * Writes the document to a private file and runs `nft -j -f FILE`: nft opens "-" as
   * /dev/stdin, which fails on the socket Node gives a child as its stdin. O(size).
   */
  async apply(doc: NftDocument): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-nft-'));
    const file = join(dir, 'transaction.json');
    let r;
    try {
      await writeFile(file, JSON.stringify(doc), { mode: 0o600 });
      r = await this.host.run(this.nft, ['-j', '-f', file], { timeoutMs: 30_000 });
    } catch (err) {
      throw notInstalled(err) ?? dataplaneError(`running nft failed: ${(err as Error).message}`, err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    if (r.code !== 0) throw dataplaneError(explainNftFailure(r.stderr || r.stdout, this.host.where));
  }

  async list(): Promise<NftObject[]> {
    const tables = (await this.listJson(['list', 'tables'])).filter((o) => (o.table as { name?: string } | undefined)?.name === TABLE_NAME);
    const out: NftObject[] = [];
    for (const t of tables) {
      const { family } = t.table as { family: string };
      for (const o of await this.listJson(['list', 'table', family, TABLE_NAME])) out.push(o);
    }
    return out;
  }

  /** `nft -j list counters`: only the counter objects (no rules, no maps), those of Fulcrum's tables. */
  async counters(): Promise<LiveCounter[]> {
    const out: LiveCounter[] = [];
    for (const o of await this.listJson(['list', 'counters'])) {
      const c = o.counter as { table?: string; name?: string; packets?: number; bytes?: number } | undefined;
      if (c?.table === TABLE_NAME && typeof c.name === 'string') out.push({ name: c.name, packets: c.packets ?? 0, bytes: c.bytes ?? 0 });
    }
    return out;
  }

  /** Checks that nft runs and may read the ruleset here (before anything is applied). */
  async probe(): Promise<void> {
    await this.listJson(['list', 'tables']);
  }

  private async listJson(args: string[]): Promise<NftObject[]> {
    let r;
    try {
      r = await this.host.run(this.nft, ['-j', ...args], { timeoutMs: 30_000 });
    } catch (err) {
      throw notInstalled(err) ?? dataplaneError(`running nft failed: ${(err as Error).message}`, err);
    }
    if (r.code !== 0) throw dataplaneError(explainNftFailure(r.stderr || r.stdout, this.host.where).replace('refused the transaction', `could not ${args.join(' ')}`).replace(', so the previous rules stay in force', ''));
    if (r.stdout.trim() === '') return [];
    let doc: { nftables?: NftObject[] };
    try {
      doc = JSON.parse(r.stdout) as { nftables?: NftObject[] };
    } catch (err) {
      throw dataplaneError(`nft ${args.join(' ')} printed something other than JSON: ${r.stdout.slice(0, 200)}`, err);
    }
    return (doc.nftables ?? []).filter((o) => !('metainfo' in o));
  }
}

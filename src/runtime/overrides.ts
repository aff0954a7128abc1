/**
 * What the operator changed at runtime (the runtime API, `fulcrum server ...`), kept by
 * the primary apart from the configuration file, so it survives reloads until changed
 * back, as HAProxy's server-state file does:
 * - a server's state (drain, maint) and weight: applied in place to every process's pools;
 * - servers added to or removed from a pool: part of the effective configuration, which
 *   is the file's with these changes (a change of servers is applied as a reload).
 * A change back to what the file says removes the override.
 */
import type { Server } from '../backend/server.js';
import type { Config, PoolConfig, ServerConfig } from '../config/types.js';
import { serverSchema } from '../config/pools/schema.js';
import { fromZodIssues } from '../config/zod-issues.js';
import type { AdminState, ServerOverride, ServerSpec } from './api.js';
import type { AdminUpdate } from './messages.js';

/** "pool/server". */
function keyOf(pool: string, server: string): string {
  return `${pool}/${server}`;
}

export class Overrides {
  private readonly byKey = new Map<string, ServerOverride>();
  /** Full configurations of servers added at runtime, by "pool/server". */
  private readonly added = new Map<string, ServerConfig>();

  /** Every override, in the order they were made. */
  list(): ServerOverride[] {
    return [...this.byKey.values()].map((o) => ({ ...o }));
  }

  get(pool: string, server: string): ServerOverride | undefined {
    return this.byKey.get(keyOf(pool, server));
  }

  /** Sets (or, when it equals the file's, clears) a server's state. */
  setState(pool: string, server: string, state: AdminState): void {
    this.edit(pool, server, (o) => {
      if (state === 'ready') delete o.state;
      else o.state = state;
    });
  }

  /** Sets (or, when it equals `configured`, clears) a server's weight. */
  setWeight(pool: string, server: string, weight: number, configured: number | undefined): void {
    const added = this.added.get(keyOf(pool, server));
    if (added !== undefined) {
      added.weight = weight;
      this.edit(pool, server, (o) => (o.weight = weight));
      return;
    }
    this.edit(pool, server, (o) => {
      if (weight === configured) delete o.weight;
      else o.weight = weight;
    });
  }

  /** Records a server added to a pool (already checked with `parseServerSpec`). */
  add(pool: string, server: ServerConfig): void {
    const key = keyOf(pool, server.name);
    this.added.set(key, server);
    this.byKey.set(key, { pool, server: server.name, added: { host: server.host, port: server.port }, weight: server.weight });
  }

  /** Removes a server: one added at runtime is forgotten; one of the file is left out until added back. */
  remove(pool: string, server: string): void {
    const key = keyOf(pool, server);
    if (this.added.delete(key)) {
      this.byKey.delete(key);
      return;
    }
    this.byKey.set(key, { pool, server, removed: true });
  }

  /** Forgets a removal (the server is in the file and comes back with its configured state). */
  unremove(pool: string, server: string): void {
    this.byKey.delete(keyOf(pool, server));
  }

  /** Returns what puts the server's overrides back as they are now (to undo a change that failed). */
  snapshot(pool: string, server: string): () => void {
    const key = keyOf(pool, server);
    const o = this.byKey.get(key);
    const added = this.added.get(key);
    return () => {
      if (o === undefined) this.byKey.delete(key);
      else this.byKey.set(key, o);
      if (added === undefined) this.added.delete(key);
      else this.added.set(key, added);
    };
  }


  /**
   * The file's configuration with the servers added and removed. Overrides that no longer
   * apply (their pool is gone; an added server's name is now in the file; a removed
   * server is no longer in it) are dropped, and described in `dropped`.
   */
  effective(base: Config): { config: Config; dropped: string[] } {
    const dropped: string[] = [];
    const pools = new Map<string, PoolConfig>();
    for (const [name, pc] of base.pools) pools.set(name, pc);
    for (const [key, o] of [...this.byKey]) {
      const pc = pools.get(o.pool);
      const inFile = base.pools.get(o.pool)?.servers.some((s) => s.name === o.server) ?? false;
      let why: string | null = null;
      if (pc === undefined) why = `pool ${o.pool} is no longer configured`;
      else if (o.added !== undefined && inFile) why = `the file now has a server ${o.server} in pool ${o.pool}: the file's wins`;
      else if (o.added === undefined && !inFile) why = `pool ${o.pool} no longer has a server ${o.server}`;
      if (why !== null) {
        this.byKey.delete(key);
        this.added.delete(key);
        dropped.push(`override of ${key} dropped: ${why}`);
        continue;
      }
      if (o.removed === true) pools.set(o.pool, { ...pc!, servers: pc!.servers.filter((s) => s.name !== o.server) });
      const add = this.added.get(key);
      if (add !== undefined) pools.set(o.pool, { ...pc!, servers: [...pools.get(o.pool)!.servers, { ...add }] });
    }
    return { config: { ...base, pools }, dropped };
  }

  /** The state and weight of every server of `config` with an override of either. */
  updates(config: Config): AdminUpdate[] {
    const out: AdminUpdate[] = [];
    for (const o of this.byKey.values()) {
      if (o.state === undefined && o.weight === undefined) continue;
      const s = config.pools.get(o.pool)?.servers.find((x) => x.name === o.server);
      if (s !== undefined) out.push({ pool: o.pool, server: o.server, address: `${s.host}:${s.port}`, state: o.state ?? 'ready', weight: o.weight ?? s.weight });
    }
    return out;
  }

  private edit(pool: string, server: string, change: (o: ServerOverride) => void): void {
    const key = keyOf(pool, server);
    const o = this.byKey.get(key) ?? { pool, server };
    change(o);
    if (o.state === undefined && o.weight === undefined && o.added === undefined && o.removed !== true) this.byKey.delete(key);
    else this.byKey.set(key, o);
  }
}

/** The message that gives a server its state and weight in every process. */
export function adminUpdateOf(s: Server, state: AdminState, weight: number): AdminUpdate {
  return { pool: s.pool, server: s.name, address: `${s.host}:${s.port}`, state, weight };
}

/**
 * A server to add, checked by the same schema as the file's servers: its full
 * configuration, or the problems ("weight: expected an integer from 0 to 256").
 */
export function parseServerSpec(spec: ServerSpec): { server?: ServerConfig; problems: string[] } {
  const parsed = serverSchema.safeParse({ name: spec.name, address: `${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.port}`, ...(spec.weight === undefined ? {} : { weight: spec.weight }) });
  if (!parsed.success) return { problems: fromZodIssues(serverSchema, parsed.error.issues).map((i) => `${i.path.join('.') || 'server'}: ${i.message}`) };
  return { server: { ...parsed.data, name: spec.name }, problems: [] };
}

/**
 * The file as the cross-checks read it: the listeners and pools that several features
 * check against, each parsed field by field (common/parsed.ts).
 */
import { isObj, list, parseFields, type Obj } from './common/parsed.js';
import type { ListenerPart } from './listeners/checks.js';
import { listenerFields } from './listeners/schema.js';
import type { PoolPart } from './pools/checks.js';
import { poolFields } from './pools/schema.js';

export interface FileParts {
  /** The whole file, for the sections each feature reads itself. */
  raw: Obj;
  /** Each listener (undefined where one is not a mapping). */
  listeners: ReadonlyArray<ListenerPart | undefined>;
  /** Pools by name; absent when the file's `pools` is missing or not a mapping. */
  pools?: ReadonlyMap<string, PoolPart | undefined>;
}

export function fileParts(raw: Obj): FileParts {
  const listeners = list(raw.listeners).map((l) => parseFields(listenerFields, l));
  // A DNS-only file may leave out `pools` (a value that is not a mapping is the schema's to report).
  const dnsOnly = raw.pools === undefined && (raw.dns !== undefined || raw.vrrp !== undefined);
  if (!isObj(raw.pools) && !dnsOnly) return { raw, listeners };
  const pools = new Map(Object.entries(isObj(raw.pools) ? raw.pools : {}).map(([name, p]) => [name, parseFields(poolFields, p)]));
  return { raw, listeners, pools };
}

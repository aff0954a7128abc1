import { eqLower } from '../http/chars.js';
import { STATIC_TABLE } from './wire/hpack.js';

/**
 * Field names in lower case, as HTTP/2 sends them, for a name parsed from HTTP/1.1 text
 * (any case). The common names, those of HPACK's static table, come back as the table's
 * own strings: no new string per response field, and the sets and maps the encoder looks
 * names up in find them without hashing them again.
 */

/** Common names by length and first letter (the letter's offset from 'a'). */
const BUCKETS = new Map<number, string[]>();

function bucketOf(length: number, c: number): number {
  const lower = c | 0x20;
  return lower < 0x61 || lower > 0x7a ? -1 : length * 26 + lower - 0x61;
}

for (const [name] of STATIC_TABLE) {
  const k = bucketOf(name.length, name.charCodeAt(0));
  if (k < 0) continue; // the pseudo-fields
  const list = BUCKETS.get(k);
  if (list === undefined) BUCKETS.set(k, [name]);
  else if (!list.includes(name)) list.push(name);
}

/** The bucket lists in an array indexed by bucket (empty where no name falls). */
const LONGEST = Math.max(...STATIC_TABLE.map(([n]) => n.length));
const LISTS: ReadonlyArray<readonly string[]> = Array.from({ length: (LONGEST + 1) * 26 }, (_, k) => BUCKETS.get(k) ?? []);

/** `name` in lower case: a static-table name as the table's string, another as toLowerCase gives it. */
export function lowerName(name: string): string {
  const n = name.length;
  if (n <= LONGEST) {
    const k = bucketOf(n, name.charCodeAt(0));
    if (k >= 0) {
      const list = LISTS[k]!;
      for (let i = 0; i < list.length; i++) if (eqLower(name, list[i]!)) return list[i]!;
    }
  }
  return name.toLowerCase();
}

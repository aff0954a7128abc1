import { eqLower, nameSlot } from '../http/chars.js';
import { STATIC_TABLE } from './wire/hpack.js';

/**
 * Field names in lower case, as HTTP/2 sends them, for a name parsed from HTTP/1.1 text
 * (any case). The common names, those of HPACK's static table, come back as the table's
 * own strings: no new string per response field, and the sets and maps the encoder looks
 * names up in find them without hashing them again.
 */

const LONGEST = Math.max(...STATIC_TABLE.map(([n]) => n.length));

/** The static table's names by slot (length and first letter, chars.ts's nameSlot); the pseudo-fields have none. */
const LISTS: string[][] = Array.from({ length: (LONGEST + 1) * 26 }, () => []);
for (const [name] of STATIC_TABLE) {
  const k = nameSlot(name.length, name.charCodeAt(0), LONGEST);
  if (k >= 0 && !LISTS[k]!.includes(name)) LISTS[k]!.push(name);
}

/** `name` in lower case: a static-table name as the table's string, another as toLowerCase gives it. */
export function lowerName(name: string): string {
  const k = nameSlot(name.length, name.charCodeAt(0), LONGEST);
  if (k >= 0) {
    const list = LISTS[k]!;
    for (let i = 0; i < list.length; i++) if (eqLower(name, list[i]!)) return list[i]!;
  }
  return name.toLowerCase();
}

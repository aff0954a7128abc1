/**
 * Byte-class tables for the HTTP/1.1 grammar (RFC 9110 §5.6, RFC 9112). Lookups are a
 * single array index so the head parser stays branch-light on the hot path.
 */

/** tchar: the characters allowed in a method and a header field name. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** field-vchar, SP and HTAB: what a header field value (and a reason phrase) may hold. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/** What a request target may hold: visible ASCII only (no SP, CTL or bytes above 0x7e). */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/**
 * The bytes a table marks, as the inside of a regular-expression character class
 * (`\x21\x23-\x27...`): the same grammar for a pattern as for a lookup loop.
 */
export function regexClass(table: Uint8Array): string {
  const hex = (c: number): string => `\\x${c.toString(16).padStart(2, '0')}`;
  let out = '';
  for (let c = 0; c < table.length; c++) {
    if (table[c] !== 1) continue;
    let last = c;
    while (last + 1 < table.length && table[last + 1] === 1) last++;
    out += last === c ? hex(c) : `${hex(c)}-${hex(last)}`;
    c = last;
  }
  return out;
}

/** Value of a hexadecimal digit, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c <= 9; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/**
 * The slot of a field name in a lookup table of names at most `longest` long, by its
 * length and first letter (any case): length * 26 + the letter's offset from 'a'; -1 for
 * a longer name or one that does not start with a letter. Such a table has
 * (longest + 1) * 26 slots (header-ids.ts, http2/lower-names.ts).
 */
export function nameSlot(length: number, c: number, longest: number): number {
  const lower = c | 0x20;
  if (length > longest || lower < 0x61 || lower > 0x7a) return -1;
  return length * 26 + lower - 0x61;
}

/** ASCII case-insensitive equality of `s` with `lower`, which must already be lower-case. */
export function eqLower(s: string, lower: string): boolean {
  const n = s.length;
  if (n !== lower.length) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c !== lower.charCodeAt(i) && (c | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * `s` without leading and trailing OWS (SP and HTAB, RFC 9110 section 5.6.3). Not
 * String.prototype.trim, which also strips NBSP (0xA0, obs-text in a latin1 head) and
 * other Unicode spaces: "chunked\xa0" would then read as chunked to us and as an unknown
 * coding to a server, which is how requests are smuggled.
 */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

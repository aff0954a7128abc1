/**
 * HPACK (RFC 7541): a decoder with the dynamic table and Huffman strings, and an encoder
 * that uses the static table, indexes repeated fields in its own dynamic table and writes
 * the rest as plain literals. Written for the upstream client's hot path: fields come out
 * as latin1 strings through a callback (no object per field), and anything malformed
 * throws an HpackError, which the connection turns into a COMPRESSION_ERROR.
 */
import type { FastBuffer } from '../../../io/fast-buffer.js';
import { huffmanDecode } from './huffman.js';

/** A header block that does not decode: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {
  readonly code = 'COMPRESSION_ERROR';
}

/** The static table (RFC 7541 Appendix A), index 1 first. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length;
/** Bytes an entry takes in a dynamic table besides its name and value (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;
/** Where Huffman-coded strings are decoded before they become strings (a decoded string is at most 8/5 of its code). */
let scratch = Buffer.allocUnsafe(16 * 1024);

/** Receives each decoded field, in order; names are lowercase as sent (the caller checks them). */
export type FieldSink = (name: string, value: string) => void;

/** The dynamic table before its first entry (never written to). */
const NO_ENTRIES: string[] = [];

/** The decoding side of one connection: its dynamic table persists from block to block. */
export class HpackDecoder {
  /**
   * The dynamic table as a ring, made once at the most entries it can hold (each takes
   * at least 32 bytes of the size): a peer that indexes a field per response (a date, an
   * ETag) then costs no array growth or copies, only the strings. Made at the first
   * entry: a connection whose peer never indexes a field costs nothing here.
   */
  private names: string[] = NO_ENTRIES;
  private values: string[] = NO_ENTRIES;
  /** Where in the ring the oldest entry is, and how many there are. */
  private first = 0;
  private count = 0;
  private size = 0;
  /** The table size the peer's encoder may use now (its last size update). */
  private max: number;

  /** `limit`: our SETTINGS_HEADER_TABLE_SIZE, the largest size update the peer may send. */
  constructor(private readonly limit = 4096) {
    this.max = limit;
  }

  /** Decodes the header block [start, end) of `buf`, calling `sink` per field; at most `maxBytes` of names and values (plus 32 per field) or it throws. */
  decode(buf: Buffer, start: number, end: number, sink: FieldSink, maxBytes: number): void {
    let i = start;
    let total = 0;
    let fields = 0;
    while (i < end) {
      const b = buf[i]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        // indexed field
        const idx = this.int(buf, i, end, 7);
        i = this.pos;
        if (idx === 0) throw new HpackError('index 0');
        name = this.nameAt(idx);
        value = this.valueAt(idx);
      } else if ((b & 0xe0) === 0x20) {
        // dynamic table size update: only at the start of a block
        if (fields !== 0) throw new HpackError('table size update after a field');
        const n = this.int(buf, i, end, 5);
        i = this.pos;
        if (n > this.limit) throw new HpackError(`table size update to ${n} over the limit ${this.limit}`);
        this.max = n;
        this.evict(0);
        continue;
      } else {
        const incremental = (b & 0xc0) === 0x40;
        const idx = this.int(buf, i, end, incremental ? 6 : 4);
        i = this.pos;
        if (idx === 0) {
          name = this.str(buf, i, end);
          i = this.pos;
        } else {
          name = this.nameAt(idx);
        }
        value = this.str(buf, i, end);
        i = this.pos;
        if (incremental) this.add(name, value);
      }
      fields++;
      total += name.length + value.length + ENTRY_OVERHEAD;
      if (total > maxBytes) throw new HpackError(`header list over ${maxBytes} bytes`);
      sink(name, value);
    }
  }

  /** Where the last int() or str() ended. */
  private pos = 0;

  /** An integer with an N-bit prefix (RFC 7541 section 5.1) at buf[i]; sets pos past it. */
  private int(buf: Buffer, i: number, end: number, bits: number): number {
    const mask = (1 << bits) - 1;
    let n = buf[i++]! & mask;
    if (n < mask) {
      this.pos = i;
      return n;
    }
    let shift = 0;
    for (;;) {
      if (i >= end) throw new HpackError('integer cut short');
      const b = buf[i++]!;
      n += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (shift > 28) throw new HpackError('integer too large');
    }
    if (n > 0x7fffffff) throw new HpackError('integer too large');
    this.pos = i;
    return n;
  }

  /** A string literal at buf[i], Huffman-coded or not; sets pos past it. */
  private str(buf: Buffer, i: number, end: number): string {
    if (i >= end) throw new HpackError('string cut short');
    const huffman = (buf[i]! & 0x80) !== 0;
    const len = this.int(buf, i, end, 7);
    const from = this.pos;
    const to = from + len;
    if (to > end) throw new HpackError('string cut short');
    this.pos = to;
    if (!huffman) return (buf as FastBuffer).latin1Slice(from, to);
    if (len * 2 > scratch.length) scratch = Buffer.allocUnsafe(len * 2);
    const n = huffmanDecode(buf, from, to, scratch, 0);
    if (n < 0) throw new HpackError('bad Huffman code');
    return (scratch as FastBuffer).latin1Slice(0, n);
  }

  /** The ring position of dynamic entry `d` (1: the newest), or -1 past the table. */
  private slot(d: number): number {
    if (d > this.count) return -1;
    const cap = this.names.length;
    const k = this.first + this.count - d;
    return k >= cap ? k - cap : k;
  }

  private nameAt(idx: number): string {
    if (idx <= STATIC_COUNT) return STATIC_TABLE[idx - 1]![0];
    const k = this.slot(idx - STATIC_COUNT);
    if (k < 0) throw new HpackError(`index ${idx} past the table`);
    return this.names[k]!;
  }

  private valueAt(idx: number): string {
    if (idx <= STATIC_COUNT) return STATIC_TABLE[idx - 1]![1];
    return this.values[this.slot(idx - STATIC_COUNT)]!;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.max) {
      // an entry larger than the table empties it (RFC 7541 section 4.4)
      this.evict(this.max + 1);
      return;
    }
    this.evict(size);
    if (this.names === NO_ENTRIES) {
      const slots = Math.floor(this.limit / ENTRY_OVERHEAD) + 1;
      this.names = new Array<string>(slots).fill('');
      this.values = new Array<string>(slots).fill('');
    }
    const cap = this.names.length;
    let k = this.first + this.count;
    if (k >= cap) k -= cap;
    this.names[k] = name;
    this.values[k] = value;
    this.count++;
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    const cap = this.names.length;
    while (this.size + room > this.max && this.count > 0) {
      const k = this.first;
      this.size -= this.names[k]!.length + this.values[k]!.length + ENTRY_OVERHEAD;
      this.names[k] = '';
      this.values[k] = '';
      this.first = k + 1 === cap ? 0 : k + 1;
      this.count--;
    }
  }

  /** Entries in the dynamic table (tests). */
  get tableLength(): number {
    return this.count;
  }

  /** Bytes the dynamic table takes (tests). */
  get tableSize(): number {
    return this.size;
  }
}

const STATIC_NAME = new Map<string, number>();
/** Static entries with a value, by name then value. */
const STATIC_FIELD = new Map<string, Map<string, number>>();
for (let k = STATIC_COUNT - 1; k >= 0; k--) {
  const [name, value] = STATIC_TABLE[k]!;
  STATIC_NAME.set(name, k + 1);
  if (value === '') continue;
  let byValue = STATIC_FIELD.get(name);
  if (byValue === undefined) STATIC_FIELD.set(name, (byValue = new Map()));
  byValue.set(value, k + 1);
}

/** How the encoder writes a field it has no full match for. */
export const enum Index {
  /** Literal with incremental indexing: the next time it is one byte or two. */
  YES,
  /** Literal without indexing (values that change per request). */
  NO,
  /** Literal never indexed (credentials: intermediaries must not index them either). */
  NEVER,
}

/**
 * The encoding side of one connection. Fields are written as literals with plain
 * (non-Huffman) strings: encoding them is a copy, and the repeated ones cost an index
 * after their first time.
 */
export class HpackEncoder {
  /** Insertion number of each field in the dynamic table, by name then value (no key string per lookup). */
  private readonly fields = new Map<string, Map<string, number>>();
  /** The table's entries, oldest first from `head`. */
  private names: string[] = [];
  private values: string[] = [];
  private head = 0;
  /** Fields inserted so far. */
  private inserted = 0;
  private size = 0;
  private max = 4096;
  /** A size update to announce at the start of the next block, or -1. */
  private update = -1;

  /** The peer's SETTINGS_HEADER_TABLE_SIZE: our table is at most that (and at most 4096). */
  setLimit(n: number): void {
    const max = Math.min(4096, n);
    if (max === this.max) return;
    this.max = max;
    this.evict(0);
    this.update = this.update === -1 ? max : Math.min(this.update, max);
  }

  /** Starts a header block: writes a pending table size update; returns the end. */
  begin(out: Buffer, at: number): number {
    if (this.update === -1) return at;
    const n = this.update;
    this.update = -1;
    return writeInt(out, at, 0x20, 5, n);
  }

  /** The most bytes a field can take encoded (for sizing the output). */
  static bound(name: string, value: string): number {
    return name.length + value.length + 12;
  }

  /** Writes one field (name in lowercase) at `at`; returns the end. */
  field(out: Buffer, at: number, name: string, value: string, index: Index): number {
    const full = STATIC_FIELD.get(name)?.get(value);
    if (full !== undefined) return writeInt(out, at, 0x80, 7, full);
    if (index === Index.YES) {
      const ins = this.fields.get(name)?.get(value);
      if (ins !== undefined) return writeInt(out, at, 0x80, 7, STATIC_COUNT + 1 + this.inserted - ins);
    }
    const nameIdx = STATIC_NAME.get(name) ?? 0;
    if (index === Index.YES) {
      at = writeInt(out, at, 0x40, 6, nameIdx);
      this.add(name, value);
    } else {
      at = writeInt(out, at, index === Index.NEVER ? 0x10 : 0x00, 4, nameIdx);
    }
    if (nameIdx === 0) at = writeString(out, at, name);
    return writeString(out, at, value);
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.max) {
      // larger than the table: the peer empties its table, and so do we
      this.evict(this.max + 1);
      return;
    }
    this.evict(size);
    this.inserted++;
    let byValue = this.fields.get(name);
    if (byValue === undefined) this.fields.set(name, (byValue = new Map()));
    byValue.set(value, this.inserted);
    this.names.push(name);
    this.values.push(value);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.size + room > this.max && this.head < this.names.length) {
      // a field is inserted only when the table does not hold it, so entries are unique
      const name = this.names[this.head]!;
      const value = this.values[this.head++]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      const byValue = this.fields.get(name)!;
      byValue.delete(value);
      if (byValue.size === 0) this.fields.delete(name);
    }
    if (this.head >= 64) {
      this.names = this.names.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
  }
}

/** An integer with an N-bit prefix, the prefix's other bits `flags`; returns the end. */
export function writeInt(out: Buffer, at: number, flags: number, bits: number, n: number): number {
  const mask = (1 << bits) - 1;
  if (n < mask) {
    out[at++] = flags | n;
    return at;
  }
  out[at++] = flags | mask;
  n -= mask;
  while (n >= 128) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** A plain string literal (latin1); returns the end. */
function writeString(out: Buffer, at: number, s: string): number {
  at = writeInt(out, at, 0, 7, s.length);
  return at + (out as FastBuffer).latin1Write(s, at);
}

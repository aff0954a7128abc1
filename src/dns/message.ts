/**
 * A plain, allocation-happy DNS message codec for the slow paths: building queries
 * (tests, benchmarks, probes) and decoding whole responses into objects with their
 * names decompressed. The server's hot path does not use it (see wire.ts).
 */
import { OPTION_ECS, TYPE } from './wire.js';

/** A query to build with `encodeQuery`. */
export interface QuerySpec {
  id?: number;
  /** Dotted name; its letter case is kept as given. */
  name: string;
  type: number;
  qclass?: number;
  /** Recursion desired (default false). */
  rd?: boolean;
  /** Checking disabled. */
  cd?: boolean;
  opcode?: number;
  /** Add an OPT record. */
  edns?: { udpSize?: number; version?: number; dnssecOk?: boolean; options?: Array<{ code: number; data: Uint8Array }> };
  /** A Client Subnet option (implies edns): family 1 or 2, the ADDRESS octets exactly as they should be sent. */
  ecs?: { family: number; sourcePrefix: number; scopePrefix?: number; address: Uint8Array };
}

/** Encodes a query. The name is written label by label with its case unchanged. */
export function encodeQuery(spec: QuerySpec): Buffer {
  const parts: number[] = [];
  const u16 = (v: number) => parts.push((v >> 8) & 0xff, v & 0xff);
  u16(spec.id ?? 0x1234);
  u16(((spec.opcode ?? 0) << 11) | (spec.rd ? 0x0100 : 0) | (spec.cd ? 0x0010 : 0));
  u16(1);
  u16(0);
  u16(0);
  const edns = spec.edns ?? (spec.ecs ? {} : undefined);
  u16(edns ? 1 : 0);
  const labels = spec.name === '.' ? [] : spec.name.replace(/\.$/, '').split('.');
  for (const l of labels) {
    const b = Buffer.from(l, 'latin1');
    parts.push(b.length, ...b);
  }
  parts.push(0);
  u16(spec.type);
  u16(spec.qclass ?? 1);
  if (edns) {
    const opts: number[] = [];
    const all = [...(edns.options ?? [])];
    if (spec.ecs) {
      const e = spec.ecs;
      all.push({ code: OPTION_ECS, data: Uint8Array.from([e.family >> 8, e.family & 0xff, e.sourcePrefix, e.scopePrefix ?? 0, ...e.address]) });
    }
    for (const o of all) {
      opts.push(o.code >> 8, o.code & 0xff, o.data.length >> 8, o.data.length & 0xff, ...o.data);
    }
    parts.push(0);
    u16(TYPE.OPT);
    u16(edns.udpSize ?? 1232);
    parts.push(0, edns.version ?? 0, edns.dnssecOk ? 0x80 : 0, 0);
    u16(opts.length);
    parts.push(...opts);
  }
  return Buffer.from(parts);
}

/** One decoded resource record. `data` depends on the type (see `decodeMessage`). */
export interface DecodedRecord {
  /** Dotted, as sent (case kept), with the final dot. */
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: unknown;
  /** The raw RDATA octets. */
  raw: Buffer;
}

/** A decoded message. */
export interface DecodedMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  cd: boolean;
  /** The full RCODE (extended with the OPT's upper bits when present). */
  rcode: number;
  question: Array<{ name: string; type: number; class: number }>;
  /** The question section's octets exactly as sent. */
  questionBytes: Buffer;
  answers: DecodedRecord[];
  authority: DecodedRecord[];
  /** Additional records other than OPT. */
  additional: DecodedRecord[];
  /** The OPT record, when present. */
  opt: null | { udpSize: number; version: number; dnssecOk: boolean; options: Array<{ code: number; data: Buffer }>; ecs: null | { family: number; sourcePrefix: number; scopePrefix: number; address: Buffer } };
}

function readName(buf: Buffer, p: number): { name: string; next: number } {
  let name = '';
  let next = -1;
  let hops = 0;
  for (;;) {
    if (p >= buf.length) throw new Error('name runs past the message');
    const l = buf[p]!;
    if ((l & 0xc0) === 0xc0) {
      if (++hops > 64) throw new Error('compression loop');
      if (next < 0) next = p + 2;
      p = ((l & 0x3f) << 8) | buf[p + 1]!;
      continue;
    }
    if (l === 0) {
      if (next < 0) next = p + 1;
      return { name: name === '' ? '.' : name, next };
    }
    name += `${buf.toString('latin1', p + 1, p + 1 + l)}.`;
    p += l + 1;
  }
}

function rdataOf(buf: Buffer, type: number, p: number, len: number): unknown {
  const end = p + len;
  switch (type) {
    case TYPE.A:
      return [...buf.subarray(p, end)].join('.');
    case TYPE.AAAA: {
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(buf.readUInt16BE(p + i).toString(16));
      return new URL(`http://[${g.join(':')}]/`).hostname.slice(1, -1); // canonical text (RFC 5952)
    }
    case TYPE.CNAME:
    case TYPE.NS:
      return readName(buf, p).name;
    case TYPE.MX:
      return { preference: buf.readUInt16BE(p), exchange: readName(buf, p + 2).name };
    case TYPE.SRV:
      return { priority: buf.readUInt16BE(p), weight: buf.readUInt16BE(p + 2), port: buf.readUInt16BE(p + 4), target: readName(buf, p + 6).name };
    case TYPE.TXT: {
      const out: string[] = [];
      let q = p;
      while (q < end) {
        out.push(buf.toString('utf8', q + 1, q + 1 + buf[q]!));
        q += 1 + buf[q]!;
      }
      return out;
    }
    case TYPE.CAA: {
      const tl = buf[p + 1]!;
      return { flags: buf[p]!, tag: buf.toString('latin1', p + 2, p + 2 + tl), value: buf.toString('utf8', p + 2 + tl, end) };
    }
    case TYPE.SOA: {
      const m = readName(buf, p);
      const r = readName(buf, m.next);
      const q = r.next;
      return {
        mname: m.name,
        rname: r.name,
        serial: buf.readUInt32BE(q),
        refresh: buf.readUInt32BE(q + 4),
        retry: buf.readUInt32BE(q + 8),
        expire: buf.readUInt32BE(q + 12),
        minimum: buf.readUInt32BE(q + 16),
      };
    }
    default:
      return buf.subarray(p, end);
  }
}

/** Decodes a whole message; throws on malformed input. */
export function decodeMessage(buf: Buffer): DecodedMessage {
  if (buf.length < 12) throw new Error('shorter than a header');
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  const msg: DecodedMessage = {
    id: buf.readUInt16BE(0),
    qr: (buf[2]! & 0x80) !== 0,
    opcode: (buf[2]! >> 3) & 0x0f,
    aa: (buf[2]! & 0x04) !== 0,
    tc: (buf[2]! & 0x02) !== 0,
    rd: (buf[2]! & 0x01) !== 0,
    cd: (buf[3]! & 0x10) !== 0,
    rcode: buf[3]! & 0x0f,
    question: [],
    questionBytes: Buffer.alloc(0),
    answers: [],
    authority: [],
    additional: [],
    opt: null,
  };
  let p = 12;
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(buf, p);
    msg.question.push({ name: n.name, type: buf.readUInt16BE(n.next), class: buf.readUInt16BE(n.next + 2) });
    p = n.next + 4;
  }
  msg.questionBytes = Buffer.from(buf.subarray(12, p));
  const sections = [msg.answers, msg.authority, msg.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const n = readName(buf, p);
      const q = n.next;
      if (q + 10 > buf.length) throw new Error('record header runs past the message');
      const type = buf.readUInt16BE(q);
      const cls = buf.readUInt16BE(q + 2);
      const ttl = buf.readUInt32BE(q + 4);
      const len = buf.readUInt16BE(q + 8);
      if (q + 10 + len > buf.length) throw new Error('record data runs past the message');
      const raw = Buffer.from(buf.subarray(q + 10, q + 10 + len));
      if (type === TYPE.OPT && s === 2) {
        const options: Array<{ code: number; data: Buffer }> = [];
        let o = q + 10;
        while (o < q + 10 + len) {
          const code = buf.readUInt16BE(o);
          const olen = buf.readUInt16BE(o + 2);
          options.push({ code, data: Buffer.from(buf.subarray(o + 4, o + 4 + olen)) });
          o += 4 + olen;
        }
        const e = options.find((x) => x.code === OPTION_ECS);
        msg.opt = {
          udpSize: cls,
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          options,
          ecs: e ? { family: e.data.readUInt16BE(0), sourcePrefix: e.data[2]!, scopePrefix: e.data[3]!, address: e.data.subarray(4) } : null,
        };
        msg.rcode |= (ttl >>> 24) << 4;
      } else {
        sections[s]!.push({ name: n.name, type, class: cls, ttl, data: rdataOf(buf, type, q + 10, len), raw });
      }
      p = q + 10 + len;
    }
  }
  return msg;
}

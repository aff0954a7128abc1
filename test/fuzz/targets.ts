/**
 * Fuzz targets: property-based (fast-check) checks of every parser that reads bytes from
 * the network. Each target generates inputs, mostly well formed and then mutated (bytes
 * replaced, inserted, cut, split at random points), and states what must hold for any of
 * them: the parser answers or refuses with its own error, never throws anything else,
 * and what it accepts means what was encoded. The HTTP/1.1 head parser is also checked
 * against llhttp (Node's own parser): see differential.ts.
 *
 * `npm test` runs each target briefly (fuzz.test.ts); `npm run fuzz` runs them for
 * minutes each (run.ts). A failure found either way is kept in corpus/TARGET.json and
 * replayed by every test run from then on.
 */
import { isIP } from 'node:net';
import fc from 'fast-check';
import { Pool } from '../../src/backend/pool.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { encodeQuery } from '../../src/dns/message.js';
import { Responder } from '../../src/dns/responder.js';
import { nameKey, ParsedQuery, parseQuery, ParseStatus } from '../../src/dns/wire.js';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';
import { HttpParseError, parseRequestHead, parseResponseHead } from '../../src/proxy/http/head.js';
import { encodeV1, encodeV2, parseProxyHeader, type ProxyAddress } from '../../src/proxy/proxy-protocol.js';
import { parseClientHello } from '../../src/proxy/tcp/sni.js';
import { decodeAdvert, decodeIpv4Advert, encodeAdvert, encodeIpv4 } from '../../src/vrrp/packet.js';
import { compareWithLlhttp, requestHead } from './differential.js';

/** One fuzz target: inputs, and the check each must pass (it throws on a finding). */
export interface Target<T> {
  name: string;
  /** Generates inputs (JSON-able, with Uint8Array allowed: that is what the corpus keeps). */
  arbitrary: fc.Arbitrary<T>;
  check(input: T): void;
}

// ---- shared generators ------------------------------------------------------------

/** Mutations of `bytes`: replace, insert or delete a few bytes, or cut the end. */
export function mutated(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('set', 'insert', 'delete', 'cut'), byte: fc.integer({ min: 0, max: 255 }) });
  return fc.tuple(bytes, fc.array(edit, { maxLength: 4 })).map(([b, edits]) => {
    let out = Array.from(b);
    for (const e of edits) {
      if (out.length === 0) {
        out.push(e.byte);
        continue;
      }
      const at = e.at % out.length;
      if (e.kind === 'set') out[at] = e.byte;
      else if (e.kind === 'insert') out.splice(at, 0, e.byte);
      else if (e.kind === 'delete') out.splice(at, 1);
      else out = out.slice(0, at);
    }
    return Uint8Array.from(out);
  });
}

/** Sometimes the well-formed bytes, sometimes a mutation of them, sometimes noise. */
function wellFormedOrNot(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ arbitrary: bytes, weight: 2 }, { arbitrary: mutated(bytes), weight: 3 }, { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 });
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const hostname = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ipv6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((p) => p.map((x) => x.toString(16)).join(':'));
const port = fc.integer({ min: 0, max: 65535 });

/** Calls `fn`; an error of the kind the parser is allowed to throw is a refusal, anything else fails the target. */
function refusesWith<E>(kind: new (...args: never[]) => E, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof kind)) throw err;
  }
}

// ---- HTTP/1.1 heads ---------------------------------------------------------------

const httpHead: Target<{ raw: string }> = {
  name: 'http-head',
  arbitrary: fc
    .oneof({ arbitrary: requestHead(), weight: 3 }, { arbitrary: mutated(requestHead().map((s) => Buffer.from(s, 'latin1'))).map((b) => Buffer.from(b).toString('latin1')), weight: 3 })
    .map((raw) => ({ raw: raw.endsWith('\r\n\r\n') ? raw : `${raw}\r\n\r\n` })),
  check({ raw }) {
    compareWithLlhttp(raw);
    refusesWith(HttpParseError, () => parseResponseHead(raw, 100));
  },
};

// ---- chunked bodies -----------------------------------------------------------------

interface ChunkedInput {
  chunks: Uint8Array[];
  ext: string;
  trailer: string;
  /** Where the encoded body is split into reads. */
  cuts: number[];
  noise: Uint8Array | null;
}

const chunkedBody: Target<ChunkedInput> = {
  name: 'chunked',
  arbitrary: fc.record({
    chunks: fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 6 }),
    ext: fc.constantFrom('', ';a=b', ';x', ';q="v"'),
    trailer: fc.constantFrom('', 'X-T: 1\r\n', 'A: b\r\nC: d\r\n'),
    cuts: fc.array(fc.nat(400), { maxLength: 5 }),
    noise: fc.option(mutated(fc.constant(Uint8Array.from(Buffer.from('5\r\nhello\r\n0\r\n\r\n')))), { freq: 3 }),
  }),
  check(input) {
    if (input.noise !== null) {
      // anything: the scanner finds an end, wants more, or refuses with a 400
      refusesWith(HttpParseError, () => new ChunkedScanner(400, 4096).scan(Buffer.from(input.noise!), 0, input.noise!.length));
      return;
    }
    const parts: Buffer[] = [];
    for (const c of input.chunks) parts.push(Buffer.from(`${c.length.toString(16)}${input.ext}\r\n`), Buffer.from(c), Buffer.from('\r\n'));
    parts.push(Buffer.from(`0${input.ext}\r\n${input.trailer}\r\n`));
    const body = Buffer.concat(parts);
    const tail = Buffer.from('GET /next HTTP/1.1\r\n');
    const wire = Buffer.concat([body, tail]);
    const cuts = [...new Set(input.cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
    const scanner = new ChunkedScanner(400, 4096);
    const data: Buffer[] = [];
    let end = -1;
    let from = 0;
    for (const to of [...cuts, wire.length]) {
      if (end >= 0 || to <= from) continue;
      const r = scanner.scan(wire, from, to, (part) => data.push(Buffer.from(part)));
      if (r >= 0) end = r;
      from = to;
    }
    if (end !== body.length) throw new Error(`the body ends at ${body.length}, the scanner said ${end}`);
    if (!Buffer.concat(data).equals(Buffer.concat(input.chunks.map((c) => Buffer.from(c))))) throw new Error('chunk data differs from what was encoded');
  },
};

// ---- PROXY protocol -------------------------------------------------------------------

interface ProxyInput {
  v: 1 | 2;
  src: ProxyAddress;
  dst: ProxyAddress;
  cut: number;
  noise: Uint8Array | null;
}

const proxyProtocol: Target<ProxyInput> = {
  name: 'proxy-protocol',
  arbitrary: fc.oneof(ipv4, ipv6).chain((family) => {
    const addr = isIP(family) === 6 ? ipv6 : ipv4;
    return fc.record({
      v: fc.constantFrom(1 as const, 2 as const),
      src: fc.record({ address: addr, port }),
      dst: fc.record({ address: addr, port }),
      cut: fc.nat(300),
      noise: fc.option(
        wellFormedOrNot(fc.constantFrom(encodeV1({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.2', port: 2 }), encodeV2({ address: '2001:db8::1', port: 1 }, { address: '2001:db8::2', port: 2 }))),
        { freq: 2 },
      ),
    });
  }),
  check(input) {
    if (input.noise !== null) {
      const r = parseProxyHeader(input.noise);
      if (r.done && (r.consumed <= 0 || r.consumed > input.noise.length)) throw new Error(`consumed ${r.consumed} of ${input.noise.length}`);
      return;
    }
    const wire = Buffer.concat([input.v === 1 ? encodeV1(input.src, input.dst) : encodeV2(input.src, input.dst), Buffer.from('payload')]);
    const headerLength = wire.length - 7;
    const cut = input.cut % headerLength;
    const partial = parseProxyHeader(wire.subarray(0, cut));
    if (partial.done || partial.error !== null) throw new Error(`a prefix of ${cut} bytes: ${partial.error ?? 'done'}`);
    const r = parseProxyHeader(wire);
    if (!r.done) throw new Error(`refused: ${r.error}`);
    if (r.consumed !== headerLength) throw new Error(`consumed ${r.consumed}, the header is ${headerLength}`);
    const same = (a: ProxyAddress | null, b: ProxyAddress) => a !== null && a.port === b.port && normalIp(a.address) === normalIp(b.address);
    if (!same(r.source, input.src) || !same(r.destination, input.dst)) throw new Error(`read ${JSON.stringify([r.source, r.destination])}`);
  },
};

function normalIp(a: string): string {
  if (isIP(a) !== 6) return a;
  // expand to 8 groups of 4 digits
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0').toLowerCase()).join(':');
}

// ---- TLS ClientHello server names ------------------------------------------------------

interface SniInput {
  name: string;
  recordSize: number;
  cut: number;
  noise: Uint8Array | null;
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];

/** A ClientHello carrying `name` in its server_name extension, framed in records of at most `recordSize` bytes. */
export function clientHello(name: string, recordSize = 16384): Buffer {
  const host = Buffer.from(name, 'latin1');
  const entry = [0, ...u16(host.length), ...host];
  const sni = [0, 0, ...u16(entry.length + 2), ...u16(entry.length), ...entry];
  const alpn = [0, 16, 0, 5, 0, 3, 2, 0x68, 0x32];
  const exts = [...alpn, ...sni];
  const body = [3, 3, ...Array(32).fill(0xab), 0, 0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0, ...u16(exts.length), ...exts];
  const hs = Buffer.from([1, 0, ...u16(body.length), ...body]);
  const out: Buffer[] = [];
  for (let o = 0; o < hs.length; o += recordSize) {
    const frag = hs.subarray(o, Math.min(hs.length, o + recordSize));
    out.push(Buffer.from([0x16, 3, 1, ...u16(frag.length)]), frag);
  }
  return Buffer.concat(out);
}

const sni: Target<SniInput> = {
  name: 'sni',
  arbitrary: fc.record({
    name: hostname.map((h) => (h.length > 2 ? h.toUpperCase().slice(0, 1) + h.slice(1) : h)),
    recordSize: fc.integer({ min: 1, max: 300 }),
    cut: fc.nat(1000),
    noise: fc.option(wellFormedOrNot(fc.constant(clientHello('www.example.com', 40))), { freq: 2 }),
  }),
  check(input) {
    if (input.noise !== null) {
      const r = parseClientHello(input.noise);
      if (r.done && r.serverName !== null && !/^[\x21-\x7e]+$/.test(r.serverName)) throw new Error(`server name ${JSON.stringify(r.serverName)}`);
      return;
    }
    const wire = clientHello(input.name, input.recordSize);
    const cut = input.cut % wire.length;
    const partial = parseClientHello(wire.subarray(0, cut));
    if (cut > 0 && (partial.done || partial.error !== null)) throw new Error(`a prefix of ${cut} bytes: ${partial.error ?? 'done'}`);
    const r = parseClientHello(wire);
    if (!r.done || !r.tls) throw new Error(`refused: ${r.error}`);
    if (r.serverName !== input.name.toLowerCase()) throw new Error(`read ${r.serverName}`);
  },
};

// ---- DNS wire codec ----------------------------------------------------------------------

interface DnsInput {
  name: string;
  type: number;
  edns: boolean;
  ecs: { prefix: number; addr: number[] } | null;
  noise: Uint8Array | null;
}

let responder: Responder | null = null;
function dnsResponder(): Responder {
  if (responder !== null) return responder;
  const web = new Pool(poolConfig('web', [{ name: 'S1', host: '192.0.2.11' }, { name: 'S6', host: '2001:db8::11' }]));
  const cfg = dnsConfig(
    [{ host: '127.0.0.1', port: 0 }],
    [zoneConfig('example.com', { transfer: true, records: [{ name: 'example.com.', type: 'TXT', ttl: 60, data: ['x'] }], pools: [poolName('www.example.com.', 'web')] })],
  );
  responder = new Responder(cfg, new Map([['web', web]]), { log: () => {} });
  return responder;
}

const dnsWire: Target<DnsInput> = {
  name: 'dns-wire',
  arbitrary: fc.record({
    name: fc.oneof(hostname, hostname.map((h) => `${h}.example.com`), fc.constant('www.example.com')),
    type: fc.constantFrom(1, 2, 5, 6, 15, 16, 28, 33, 252, 255, 65),
    edns: fc.boolean(),
    ecs: fc.option(fc.record({ prefix: fc.integer({ min: 0, max: 32 }), addr: fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }) }), { freq: 3 }),
    noise: fc.option(wellFormedOrNot(fc.constant(Uint8Array.from(encodeQuery({ name: 'www.example.com', type: 1, edns: {} })))), { freq: 2 }),
  }),
  check(input) {
    const r = dnsResponder();
    const q = new ParsedQuery();
    if (input.noise !== null) {
      parseQuery(input.noise, q);
      r.respondAll(Buffer.from(input.noise), '192.0.2.1', 'udp');
      r.respondAll(Buffer.from(input.noise), '192.0.2.1', 'tcp');
      return;
    }
    const ecs = input.ecs === null ? undefined : { family: 1, sourcePrefix: input.ecs.prefix, address: ecsAddress(input.ecs.addr, input.ecs.prefix) };
    const wire = encodeQuery({ name: input.name, type: input.type, ...(input.edns ? { edns: {} } : {}), ...(ecs ? { ecs } : {}) });
    const status = parseQuery(wire, q);
    if (status !== ParseStatus.OK) throw new Error(`a well-formed query parsed as ${status}: ${q.error}`);
    if (q.qname !== nameKey(input.name) || q.qtype !== input.type) throw new Error(`read ${q.qname} type ${q.qtype}`);
    const out = r.respond(wire, '192.0.2.1', 'udp');
    if (out === null || out.length > (input.edns || ecs ? 1232 : 512)) throw new Error(`answer of ${out?.length} bytes over UDP`);
  },
};

/** ECS ADDRESS octets for `prefix` bits of `addr`, bits past the prefix cleared (RFC 7871). */
function ecsAddress(addr: number[], prefix: number): Uint8Array {
  const n = Math.ceil(prefix / 8);
  const out = Uint8Array.from(addr.slice(0, n));
  if (prefix % 8 !== 0 && n > 0) out[n - 1]! &= (0xff << (8 - (prefix % 8))) & 0xff;
  return out;
}

// ---- VRRP ----------------------------------------------------------------------------------

interface VrrpInput {
  vrid: number;
  priority: number;
  intervalCs: number;
  addresses: string[];
  noise: Uint8Array | null;
}

const vrrp: Target<VrrpInput> = {
  name: 'vrrp',
  arbitrary: fc.record({
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: fc.integer({ min: 0, max: 255 }),
    intervalCs: fc.integer({ min: 1, max: 4095 }),
    addresses: fc.array(ipv4, { minLength: 1, maxLength: 8 }),
    noise: fc.option(
      wellFormedOrNot(fc.constant(Uint8Array.from(encodeIpv4(encodeAdvert({ vrid: 7, priority: 100, intervalCs: 100, addresses: ['192.0.2.10'] }, '192.0.2.1', '224.0.0.18'), '192.0.2.1', '224.0.0.18')))),
      { freq: 2 },
    ),
  }),
  check(input) {
    if (input.noise !== null) {
      decodeIpv4Advert(Buffer.from(input.noise));
      return;
    }
    const a = { vrid: input.vrid, priority: input.priority, intervalCs: input.intervalCs, addresses: input.addresses };
    const r = decodeIpv4Advert(encodeIpv4(encodeAdvert(a, '192.0.2.1', '224.0.0.18'), '192.0.2.1', '224.0.0.18'));
    if (!r.ok) throw new Error(`dropped: ${r.reason}`);
    const { vrid, priority, intervalCs, addresses } = r.advert;
    if (JSON.stringify({ vrid, priority, intervalCs, addresses }) !== JSON.stringify(a)) throw new Error(`read ${JSON.stringify(r.advert)}`);
    // one flipped bit anywhere in the VRRP part is caught by the checksum (or a field check)
    const vr = encodeAdvert(a, '192.0.2.1', '224.0.0.18');
    const bit = (input.vrid * 131 + input.priority) % (vr.length * 8);
    vr[bit >> 3]! ^= 1 << (bit & 7);
    if (decodeAdvert(vr, '192.0.2.1', '224.0.0.18').ok) throw new Error(`bit ${bit} flipped and still accepted`);
  },
};

/** Every target, in the order `npm run fuzz` runs them. */
export const TARGETS: Array<Target<unknown>> = [httpHead, chunkedBody, proxyProtocol, sni, dnsWire, vrrp] as Array<Target<unknown>>;

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeV1,
  encodeV2,
  encodeV2Local,
  parseProxyHeader,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyParseResult,
} from '../../src/proxy/proxy-protocol.js';

const PAYLOAD = Buffer.from('GET / HTTP/1.1\r\n\r\n');

function parsed(r: ProxyParseResult) {
  assert.equal(r.error, null, `unexpected error: ${r.error}`);
  assert.equal(r.done, true);
  if (r.error !== null || !r.done) throw new Error('unreachable');
  return r;
}

/** Every strict prefix of a valid header is "need more", never an error. */
function assertPrefixesIncomplete(header: Buffer): void {
  for (let n = 0; n < header.length; n++) {
    const r = parseProxyHeader(header.subarray(0, n));
    assert.deepEqual({ done: r.done, error: r.error }, { done: false, error: null }, `prefix of ${n} bytes`);
  }
}

/** A v2 header from its parts (signature added). */
function v2(verCmd: number, famProto: number, body: Buffer | number[], len?: number): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(4);
  head[0] = verCmd;
  head[1] = famProto;
  head.writeUInt16BE(len ?? b.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, head, b]);
}

test('v1 round trips TCP4 and TCP6, with the payload left after the header', () => {
  const cases = [
    { src: { address: '192.0.2.10', port: 51234 }, dst: { address: '198.51.100.1', port: 443 }, family: 'tcp4', text: 'PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n' },
    { src: { address: '2001:db8::10', port: 0 }, dst: { address: '2001:db8::1', port: 65535 }, family: 'tcp6', text: 'PROXY TCP6 2001:db8::10 2001:db8::1 0 65535\r\n' },
    // IPv4-mapped addresses go as TCP4 (as Node reports v4 clients on a dual-stack socket)
    { src: { address: '::ffff:192.0.2.10', port: 1 }, dst: { address: '::ffff:192.0.2.1', port: 2 }, family: 'tcp4', text: 'PROXY TCP4 192.0.2.10 192.0.2.1 1 2\r\n' },
    // mixed families: both as IPv6
    { src: { address: '192.0.2.10', port: 1 }, dst: { address: '2001:db8::1', port: 2 }, family: 'tcp6', text: 'PROXY TCP6 ::ffff:192.0.2.10 2001:db8::1 1 2\r\n' },
  ] as const;
  for (const c of cases) {
    const h = encodeV1(c.src, c.dst);
    assert.equal(h.toString('latin1'), c.text);
    assert.ok(h.length <= PROXY_V1_MAX_LENGTH);
    const r = parsed(parseProxyHeader(Buffer.concat([h, PAYLOAD])));
    assert.equal(r.consumed, h.length);
    assert.equal(r.version, 1);
    assert.equal(r.command, 'proxy');
    assert.equal(r.family, c.family);
    assertPrefixesIncomplete(h);
  }
  const r = parsed(parseProxyHeader(encodeV1({ address: '192.0.2.10', port: 7 }, { address: '198.51.100.1', port: 8 })));
  assert.deepEqual(r.source, { address: '192.0.2.10', port: 7 });
  assert.deepEqual(r.destination, { address: '198.51.100.1', port: 8 });
});

test('v1 UNKNOWN: no addresses, and anything before the CRLF is ignored', () => {
  assert.equal(encodeV1(null, null).toString('latin1'), 'PROXY UNKNOWN\r\n');
  assert.equal(encodeV1({ address: '/tmp/sock', port: 0 }, { address: '192.0.2.1', port: 1 }).toString('latin1'), 'PROXY UNKNOWN\r\n');
  for (const text of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN 192.0.2.1 192.0.2.2 1 2\r\n']) {
    const r = parsed(parseProxyHeader(Buffer.from(text + 'rest')));
    assert.equal(r.consumed, text.length);
    assert.equal(r.family, 'unknown');
    assert.equal(r.source, null);
  }
});

test('v1 longest header (107 bytes) parses; 108 without CRLF fails', () => {
  const longest = `PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n`;
  assert.equal(longest.length, 104);
  parsed(parseProxyHeader(Buffer.from(longest)));
  const unknown107 = `PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 16)}\r\n`;
  assert.equal(unknown107.length, 107);
  parsed(parseProxyHeader(Buffer.from(unknown107)));
  const r = parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`));
  assert.match(r.error ?? '', /no CRLF within 107/);
});

test('v1 malformed corpus: each is refused with a reason', () => {
  const corpus: Array<[string, RegExp]> = [
    ['GET / HTTP/1.1\r\n', /not a PROXY protocol header/],
    ['proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /not a PROXY protocol header/],
    ['PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n', /bad v1 prefix/],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
    ['PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
    ['PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
    ['PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', /fields|address/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /fields/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /fields/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', /fields/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /unexpected byte 0x0a/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /CR not followed by LF/],
    ['PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n', /unexpected byte 0x09/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n', /unexpected byte 0x00/],
    ['PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', /source address/],
    ['PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', /source address/],
    ['PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', /source address/],
    ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /source address .* IPv4/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /source address .* IPv6/],
    ['PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n', /destination address/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n', /destination port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n', /destination port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n', /destination port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n', /destination port/],
  ];
  for (const [text, reason] of corpus) {
    const r = parseProxyHeader(Buffer.from(text, 'latin1'));
    assert.equal(r.done, false, text);
    assert.match(r.error ?? '(no error)', reason, JSON.stringify(text));
  }
});

test('v1 truncated: every prefix waits, and the parser never reads past the CRLF', () => {
  const h = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n');
  assertPrefixesIncomplete(h);
  // Plain traffic is refused at its first byte rather than after 107.
  assert.notEqual(parseProxyHeader(Buffer.from('G')).error, null);
  assert.notEqual(parseProxyHeader(Buffer.from('PROXX')).error, null);
});

test('v2 round trips TCP4, TCP6 and mixed families, with the payload left after the header', () => {
  const h4 = encodeV2({ address: '192.0.2.10', port: 51234 }, { address: '198.51.100.1', port: 443 });
  assert.equal(h4.length, 28);
  const r4 = parsed(parseProxyHeader(Buffer.concat([h4, PAYLOAD])));
  assert.equal(r4.consumed, 28);
  assert.deepEqual(
    { version: r4.version, command: r4.command, family: r4.family, source: r4.source, destination: r4.destination },
    { version: 2, command: 'proxy', family: 'tcp4', source: { address: '192.0.2.10', port: 51234 }, destination: { address: '198.51.100.1', port: 443 } },
  );
  const h6 = encodeV2({ address: '2001:db8::a:b', port: 1 }, { address: '::1', port: 2 });
  assert.equal(h6.length, 52);
  const r6 = parsed(parseProxyHeader(h6));
  assert.deepEqual([r6.family, r6.source, r6.destination], ['tcp6', { address: '2001:db8::a:b', port: 1 }, { address: '::1', port: 2 }]);
  const mixed = parsed(parseProxyHeader(encodeV2({ address: '192.0.2.1', port: 3 }, { address: '2001:db8::1', port: 4 })));
  assert.deepEqual([mixed.family, mixed.source], ['tcp6', { address: '::ffff:192.0.2.1', port: 3 }]);
  const mapped = parsed(parseProxyHeader(encodeV2({ address: '::ffff:192.0.2.1', port: 3 }, { address: '::ffff:192.0.2.2', port: 4 })));
  assert.deepEqual([mapped.family, mapped.source], ['tcp4', { address: '192.0.2.1', port: 3 }]);
  for (const a of ['1:2:3:4:5:6:7:8', '1::', '::', '1:0:0:2::3', 'fe80::1:0:0:1', '2001:db8:0:0:1::1', '::ffff:0:1.2.3.4']) {
    const r = parsed(parseProxyHeader(encodeV2({ address: a, port: 1 }, { address: '::1', port: 1 })));
    const norm = (x: string) => new URL(`http://[${x}]/`).hostname;
    assert.equal(norm(r.source!.address), norm(a), a);
  }
  assertPrefixesIncomplete(h4);
  assertPrefixesIncomplete(h6);
});

test('v2 LOCAL, UNSPEC and UNIX headers', () => {
  const local = encodeV2Local();
  assert.equal(local.length, 16);
  const rl = parsed(parseProxyHeader(Buffer.concat([local, PAYLOAD])));
  assert.deepEqual([rl.command, rl.family, rl.source, rl.consumed], ['local', 'unknown', null, 16]);
  assert.deepEqual(encodeV2(null, null), local);
  // LOCAL may carry bytes the receiver skips
  const localWithBody = v2(0x20, 0x11, Buffer.alloc(12, 7));
  assert.equal(parsed(parseProxyHeader(localWithBody)).consumed, 28);
  // PROXY with UNSPEC family: use the real endpoints
  const unspec = parsed(parseProxyHeader(v2(0x21, 0x00, [])));
  assert.deepEqual([unspec.command, unspec.family, unspec.source], ['proxy', 'unknown', null]);
  // UNIX stream
  const addrs = Buffer.alloc(216);
  addrs.write('/run/client.sock', 0);
  addrs.write('/run/haproxy.sock', 108);
  const ru = parsed(parseProxyHeader(v2(0x21, 0x31, addrs)));
  assert.deepEqual([ru.family, ru.source, ru.destination], ['unix', { address: '/run/client.sock', port: 0 }, { address: '/run/haproxy.sock', port: 0 }]);
  // UDP over IPv4
  const udp = parsed(parseProxyHeader(v2(0x21, 0x12, [192, 0, 2, 1, 192, 0, 2, 2, 0, 53, 0, 54])));
  assert.deepEqual([udp.family, udp.source], ['udp4', { address: '192.0.2.1', port: 53 }]);
});

test('v2 TLVs are skipped but must tile the rest of the header', () => {
  const addrs = [192, 0, 2, 1, 192, 0, 2, 2, 0x30, 0x39, 0, 80];
  const tlvs = [0x04, 0x00, 0x03, 0, 0, 0, /* NOOP 3 bytes */ 0x05, 0x00, 0x02, 0xab, 0xcd /* UNIQUE_ID */];
  const r = parsed(parseProxyHeader(Buffer.concat([v2(0x21, 0x11, [...addrs, ...tlvs]), PAYLOAD])));
  assert.equal(r.consumed, 16 + 12 + tlvs.length);
  assert.deepEqual(r.source, { address: '192.0.2.1', port: 12345 });
  assert.match(parseProxyHeader(v2(0x21, 0x11, [...addrs, 0x04, 0x00, 0x09, 1, 2])).error ?? '', /overruns/);
  assert.match(parseProxyHeader(v2(0x21, 0x11, [...addrs, 0x04, 0x00])).error ?? '', /truncated TLV/);
});

test('v2 malformed corpus: each is refused with a reason', () => {
  const inet = [192, 0, 2, 1, 192, 0, 2, 2, 0, 1, 0, 2];
  const corpus: Array<[string, Buffer, RegExp]> = [
    ['version 1', v2(0x11, 0x11, inet), /version 1/],
    ['version 3', v2(0x31, 0x11, inet), /version 3/],
    ['command 2', v2(0x22, 0x11, inet), /unknown command 2/],
    ['command 15', v2(0x2f, 0x11, inet), /unknown command 15/],
    ['family 4', v2(0x21, 0x41, inet), /unknown address family 4/],
    ['transport 3', v2(0x21, 0x13, inet), /unknown transport protocol 3/],
    ['INET too short', v2(0x21, 0x11, inet.slice(0, 11)), /too short.*needs 12/],
    ['INET6 with INET length', v2(0x21, 0x21, inet), /too short.*needs 36/],
    ['UNIX too short', v2(0x21, 0x31, Buffer.alloc(100)), /needs 216/],
    ['over the size limit', v2(0x21, 0x11, [], 65535), /exceeds the limit/],
    ['bad signature', Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b]), Buffer.alloc(16)]), /bad v2 signature/],
  ];
  for (const [what, bytes, reason] of corpus) {
    const r = parseProxyHeader(bytes);
    assert.equal(r.done, false, what);
    assert.match(r.error ?? '(no error)', reason, what);
  }
  // The version is checked as soon as its byte arrives.
  assert.match(parseProxyHeader(v2(0x11, 0x11, inet).subarray(0, 13)).error ?? '', /version 1/);
  // A larger limit lets a big header through.
  const big = v2(0x21, 0x11, [...inet, 0x04, 0x4f, 0xf1, ...new Array<number>(0x4ff1).fill(0)]);
  assert.ok(big.length > 16 * 1024);
  assert.notEqual(parseProxyHeader(big).error, null);
  assert.equal(parseProxyHeader(big, 64 * 1024).error, null);
});

test('v2 truncated: every prefix of a header with TLVs waits for more', () => {
  const h = v2(0x21, 0x11, [192, 0, 2, 1, 192, 0, 2, 2, 0, 1, 0, 2, 0x04, 0x00, 0x01, 0]);
  assertPrefixesIncomplete(h);
  parsed(parseProxyHeader(h));
});

test('random bytes never throw, and every outcome is one of the three', () => {
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const valid = [encodeV1({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.2', port: 2 }), encodeV2({ address: '2001:db8::1', port: 1 }, { address: '::1', port: 2 })];
  for (let i = 0; i < 5000; i++) {
    const base = Buffer.from(valid[i % 2]!);
    // flip a few bytes of a valid header, or truncate it
    for (let k = 0; k < 1 + (rnd() % 3); k++) base[rnd() % base.length] = rnd();
    const bytes = base.subarray(0, rnd() % 2 === 0 ? base.length : rnd() % base.length);
    const r = parseProxyHeader(bytes);
    if (r.error !== null) assert.equal(r.done, false);
    else if (r.done) assert.ok(r.consumed > 0 && r.consumed <= bytes.length);
  }
});

test('encoders refuse bad ports', () => {
  assert.throws(() => encodeV1({ address: '192.0.2.1', port: 70000 }, { address: '192.0.2.2', port: 1 }), RangeError);
  assert.throws(() => encodeV2({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.2', port: -1 }), RangeError);
});

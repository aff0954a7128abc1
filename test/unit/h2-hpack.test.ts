import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HpackDecoder, HpackEncoder, HpackError, Index } from '../../src/proxy/http2/wire/hpack.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from '../../src/proxy/http2/wire/huffman.js';

function decode(d: HpackDecoder, hex: string): string[] {
  const buf = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  const out: string[] = [];
  d.decode(buf, 0, buf.length, (n, v) => out.push(`${n}: ${v}`), 1 << 20);
  return out;
}

const REQ1 = [':method: GET', ':scheme: http', ':path: /', ':authority: www.example.com'];
const REQ2 = [...REQ1, 'cache-control: no-cache'];
const REQ3 = [':method: GET', ':scheme: https', ':path: /index.html', ':authority: www.example.com', 'custom-key: custom-value'];

describe('HPACK dynamic table as a ring', () => {
  it('entries added, referenced and evicted many times round the ring decode as they were encoded', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder();
    const out = Buffer.alloc(4096);
    for (let i = 1; i < 600; i++) {
      const fields: Array<[string, string]> = [
        [`x-k${i % 37}`, `v${i}`.repeat(1 + (i % 5))],
        [`x-k${(i - 1) % 37}`, `v${i - 1}`.repeat(1 + ((i - 1) % 5))],
        ['date', `day ${i % 3}`],
      ];
      let at = enc.begin(out, 0);
      for (const [n, v] of fields) at = enc.field(out, at, n, v, Index.YES);
      const got: string[] = [];
      dec.decode(out, 0, at, (n, v) => got.push(`${n}: ${v}`), 1 << 20);
      assert.deepEqual(got, fields.map(([n, v]) => `${n}: ${v}`), `block ${i}`);
      assert.ok(dec.tableSize <= 4096);
    }
  });
});

describe('HPACK decoder: RFC 7541 Appendix C', () => {
  it('C.2: literal with indexing, without indexing, never indexed, indexed', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), ['custom-key: custom-header']);
    assert.equal(d.tableSize, 55);
    const d2 = new HpackDecoder();
    assert.deepEqual(decode(d2, '040c 2f73 616d 706c 652f 7061 7468'), [':path: /sample/path']);
    assert.deepEqual(decode(d2, '1008 7061 7373 776f 7264 0673 6563 7265 74'), ['password: secret']);
    assert.deepEqual(decode(d2, '82'), [':method: GET']);
    assert.equal(d2.tableLength, 0);
  });

  it('C.3: requests without Huffman, the dynamic table carried from one to the next', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'), REQ1);
    assert.equal(d.tableSize, 57);
    assert.deepEqual(decode(d, '8286 84be 5808 6e6f 2d63 6163 6865'), REQ2);
    assert.equal(d.tableSize, 110);
    assert.deepEqual(decode(d, '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'), REQ3);
    assert.equal(d.tableSize, 164);
    assert.equal(d.tableLength, 3);
  });

  it('C.4: requests with Huffman', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'), REQ1);
    assert.deepEqual(decode(d, '8286 84be 5886 a8eb 1064 9cbf'), REQ2);
    assert.deepEqual(decode(d, '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'), REQ3);
    assert.equal(d.tableSize, 164);
  });

  it('C.6: responses with Huffman and a 256-byte table: entries evicted in order', () => {
    const d = new HpackDecoder(256);
    const date1 = 'date: Mon, 21 Oct 2013 20:13:21 GMT';
    assert.deepEqual(
      decode(d, '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'),
      [':status: 302', 'cache-control: private', date1, 'location: https://www.example.com'],
    );
    assert.equal(d.tableSize, 222);
    assert.deepEqual(decode(d, '4883 640e ff c1 c0 bf'), [':status: 307', 'cache-control: private', date1, 'location: https://www.example.com']);
    assert.equal(d.tableSize, 222);
    assert.deepEqual(
      decode(
        d,
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ),
      [':status: 200', 'cache-control: private', 'date: Mon, 21 Oct 2013 20:13:22 GMT', 'location: https://www.example.com', 'content-encoding: gzip', 'set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    );
    assert.equal(d.tableSize, 215);
    assert.equal(d.tableLength, 3);
  });
});

describe('Huffman code', () => {
  it('encodes C.4.1 "www.example.com" and round-trips every byte value', () => {
    const out = Buffer.alloc(64);
    const n = huffmanEncode('www.example.com', out, 0);
    assert.equal(out.subarray(0, n).toString('hex'), 'f1e3c2e5f23a6ba0ab90f4ff');
    assert.equal(huffmanLength('www.example.com'), 12);
    let all = '';
    for (let c = 0; c < 256; c++) all += String.fromCharCode(c);
    const enc = Buffer.alloc(huffmanLength(all));
    assert.equal(huffmanEncode(all, enc, 0), enc.length);
    const dec = Buffer.alloc(512);
    const m = huffmanDecode(enc, 0, enc.length, dec, 0);
    assert.equal(dec.toString('latin1', 0, m), all);
  });

  it('refuses EOS, padding that is not all ones, and padding of 8 bits or more', () => {
    const dec = Buffer.alloc(16);
    assert.equal(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, dec, 0), -1, 'EOS (30 ones)');
    assert.equal(huffmanDecode(Buffer.from([0x00]), 0, 1, dec, 0), -1, '"0" then 000 padding');
    assert.equal(huffmanDecode(Buffer.from([0x07, 0xff]), 0, 2, dec, 0), -1, '"0" then 11 bits of ones');
    assert.equal(huffmanDecode(Buffer.from([0x07]), 0, 1, dec, 0), 1, '"0" then 111 padding');
  });
});

describe('HPACK encoder', () => {
  const fields: Array<[string, string]> = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':authority', 'svc.internal:8080'],
    [':path', '/pkg.Svc/Method'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['authorization', 'Bearer abc'],
    ['x-custom', 'v'],
  ];
  function block(e: HpackEncoder, list: Array<[string, string]>): Buffer {
    const out = Buffer.alloc(4096);
    let at = e.begin(out, 0);
    for (const [n, v] of list) at = e.field(out, at, n, v, n === 'authorization' ? Index.NEVER : n === ':path' ? Index.NO : Index.YES);
    return out.subarray(0, at);
  }

  it('round-trips through the decoder; repeated fields become indexes; credentials are never indexed', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const first = block(e, fields);
    const second = block(e, fields);
    for (const b of [first, second]) {
      const got: Array<[string, string]> = [];
      d.decode(b, 0, b.length, (n, v) => got.push([n, v]), 1 << 20);
      assert.deepEqual(got, fields);
    }
    assert.ok(second.length < first.length / 2, `the second block (${second.length} bytes) reuses the first's entries (${first.length})`);
    assert.ok(first.includes(Buffer.from([0x10 | 0x0f, 23 - 15])), 'authorization as a never-indexed literal with the static name');
    assert.ok(second.includes(Buffer.from('Bearer abc')), 'authorization is literal every time');
  });

  it('stays in step with the decoder while entries are evicted, and after a smaller table size', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    for (let i = 0; i < 400; i++) {
      if (i === 200) e.setLimit(100);
      if (i === 300) e.setLimit(0);
      const list: Array<[string, string]> = [
        ['x-n', String(i)],
        ['x-long', 'y'.repeat(i % 50)],
        ['x-n', String(i - 1)],
        ['x-fixed', 'same'],
      ];
      const b = block(e, list);
      const got: Array<[string, string]> = [];
      d.decode(b, 0, b.length, (n, v) => got.push([n, v]), 1 << 20);
      assert.deepEqual(got, list, `block ${i}`);
      assert.ok(d.tableSize <= (i >= 300 ? 0 : i >= 200 ? 100 : 4096));
    }
  });
});

describe('HPACK decoder: malformed blocks throw HpackError, nothing else', () => {
  const bad: Array<[string, string]> = [
    ['index 0', '80'],
    ['an index past the tables', 'be'],
    ['an integer cut short', 'ff'],
    ['an integer too large', 'ffffffffffff7f'],
    ['a string cut short', '400a6375'],
    ['a name of literal cut short', '00'],
    ['a bad Huffman string', '0081ff0100'],
    ['a size update over the limit', '3fe21f'],
    ['a size update after a field', '8220'],
  ];
  for (const [what, hex] of bad) {
    it(what, () => {
      const buf = Buffer.from(hex, 'hex');
      assert.throws(() => new HpackDecoder().decode(buf, 0, buf.length, () => {}, 1 << 20), HpackError);
    });
  }

  it('a header list over the limit', () => {
    const buf = Buffer.from('400a637573746f6d2d6b65790d637573746f6d2d686561646572', 'hex');
    assert.throws(() => new HpackDecoder().decode(buf, 0, buf.length, () => {}, 40), HpackError);
  });

  it('random bytes: decoded or HpackError, never another exception', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 5000; i++) {
      const buf = Buffer.alloc(1 + (i % 40));
      for (let k = 0; k < buf.length; k++) buf[k] = rand();
      const d = new HpackDecoder();
      try {
        d.decode(buf, 0, buf.length, () => {}, 1 << 16);
      } catch (err) {
        assert.ok(err instanceof HpackError, `${buf.toString('hex')}: ${String(err)}`);
      }
    }
  });
});

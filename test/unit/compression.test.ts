/**
 * Compression, the pure parts: `compression` in the configuration and what `fulcrum check`
 * says about it; Accept-Encoding and its q-values; the decision for a request and a
 * response; the head's changes; the streaming encoder's framing and flushes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { DEFAULT_COMPRESSION, type CompressionConfig } from '../../src/config/listeners/compression.js';
import { CompressionPolicy, compressedEdit, preferredCoding } from '../../src/proxy/http/compress.js';
import { parseRequestHead, parseResponseHead } from '../../src/proxy/http/head.js';
import { ResponseEncoder, type EncoderOwner } from '../../src/proxy/http/response-encoder.js';
import { configIssues, configOk } from '../helpers/config.js';

const file = (listener: string, routes = '      - pool: web', mode = 'http') => `listeners:
  - name: www
    bind: 127.0.0.1:0
    mode: ${mode}
${listener}    routes:
${routes}
pools:
  web: { servers: [{ address: 192.0.2.11:80 }] }
`;

describe('compression in the configuration', () => {
  it('is off by default; {} turns it on with the defaults; a route replaces or turns off the listener\'s', () => {
    assert.equal(configOk(file(''), 'c.yaml').listeners[0]!.compression, null);
    const c = configOk(
      file('    compression: {}\n', `      - { path: /a/, pool: web, compression: { enabled: false } }
      - { path: /b/, pool: web, compression: { algorithms: [gzip], types: [Text/HTML, "*/*"], min_size: 2KiB, level: { gzip: 9 } } }
      - pool: web`),
      'c.yaml',
    );
    const l = c.listeners[0]!;
    assert.deepEqual(l.compression, { algorithms: ['br', 'gzip'], types: DEFAULT_COMPRESSION.types, minSize: 1024, level: { gzip: 6, br: 4 } });
    assert.equal(l.routes[0]!.compression, null);
    assert.deepEqual(l.routes[1]!.compression, { algorithms: ['gzip'], types: ['text/html', '*'], minSize: 2048, level: { gzip: 9, br: 4 } });
    assert.equal(l.routes[2]!.compression, undefined, 'the listener\'s');
  });

  it('says what is wrong, where', () => {
    const issues = configIssues(
      file(`    compression:
      algorithms: [gzip, brotli, gzip]
      types: ["text", "text/*; charset=utf-8", "*/html"]
      level: { gzip: 0, br: 12 }
      min_size: lots
`),
      'c.yaml',
    );
    const has = (re: RegExp) => assert.ok(issues.some((i) => re.test(i)), `${re} in\n${issues.join('\n')}`);
    has(/^6:26 listeners\[0\]\.compression\.algorithms\[1\]: expected gzip or br, got the string "brotli" \(brotli is written `br`/);
    has(/^7:15 listeners\[0\]\.compression\.types\[0\]: "text" is not a media type pattern/);
    has(/^7:23 listeners\[0\]\.compression\.types\[1\]: .*without parameters/);
    has(/^7:48 listeners\[0\]\.compression\.types\[2\]: "\*\/html" is not a media type pattern/);
    has(/^8:22 listeners\[0\]\.compression\.level\.gzip: must be an integer from 1 to 9, got 0/);
    has(/^8:29 listeners\[0\]\.compression\.level\.br: must be an integer from 0 to 11, got 12/);
    has(/^9:17 listeners\[0\]\.compression\.min_size: /);
  });

  it('refuses compression where no proxied HTTP response is', () => {
    const tcp = configIssues(file('    compression: {}\n', '      - { pool: web, compression: {} }', 'tcp'), 'c.yaml');
    assert.ok(tcp.some((i) => /^5:5 listeners\[0\]\.compression: compression applies to HTTP responses, and this listener is mode: tcp, which relays bytes without reading HTTP/.test(i)), tcp.join('\n'));
    assert.ok(tcp.some((i) => /^7:22 listeners\[0\]\.routes\[0\]\.compression: `compression` reads or answers HTTP/.test(i)), tcp.join('\n'));
    const redirect = configIssues(file('    compression: {}\n', '      - pool: web', 'redirect'), 'c.yaml');
    assert.ok(redirect.some((i) => /^5:5 listeners\[0\]\.compression: .*answers every request itself with a redirect/.test(i)), redirect.join('\n'));
    const respond = configIssues(file('', '      - { path: /h, respond: { status: 200 }, compression: {} }\n      - pool: web'), 'c.yaml');
    assert.ok(respond.some((i) => /routes\[0\]\.compression: this route answers with `respond` itself/.test(i)), respond.join('\n'));
  });
});

describe('Accept-Encoding', () => {
  const both = ['br', 'gzip'] as const;
  const cases: Array<[string[], string | null]> = [
    [[], null],
    [[''], null],
    [['gzip'], 'gzip'],
    [['br'], 'br'],
    [['gzip, br'], 'br'],
    [['gzip', 'br'], 'br'],
    [['gzip;q=1.0, br;q=0.999'], 'gzip'],
    [['br;q=0'], null],
    [['br;q=0, *'], 'gzip'],
    [['*;q=0'], null],
    [['*;q=0.5, gzip;q=0.6'], 'gzip'],
    [['identity, deflate'], null],
    [['gzip ; q=0.5 , br ; q=0.4'], 'gzip'],
    [["gzip;q=2"], null], // malformed: refused
    [['gzip;q=abc'], null],
    [['gzip;level=1;q=0'], null],
    [['brotli, x-gzip'], 'gzip'],
    [['BR'], 'br'],
  ];
  for (const [values, want] of cases) {
    it(`${JSON.stringify(values)} -> ${want}`, () => assert.equal(preferredCoding(values, both), want));
  }
  it('ties go to the configured order', () => {
    assert.equal(preferredCoding(['gzip, br'], ['gzip', 'br']), 'gzip');
    assert.equal(preferredCoding(['br'], ['gzip']), null);
  });
});

const policy = (over: Partial<CompressionConfig> = {}) => new CompressionPolicy({ ...DEFAULT_COMPRESSION, algorithms: ['br', 'gzip'], ...over });
const req = (lines: string, method = 'GET', version = '1.1') => parseRequestHead(`${method} / HTTP/${version}\r\nHost: x\r\n${lines}\r\n`, { urlBytes: 8192, headerCount: 100 });
const resp = (lines: string, status = 200) => parseResponseHead(`HTTP/1.1 ${status} X\r\n${lines}\r\n`, 100);

describe('the decision', () => {
  const ae = 'Accept-Encoding: gzip\r\n';
  const html = 'Content-Type: text/html; charset=utf-8\r\nContent-Length: 5000\r\n';
  it('compresses a listed type of a known, large enough length, or of no length', () => {
    assert.equal(policy().coding(req(ae), resp(html)), 'gzip');
    assert.equal(policy().coding(req(ae), resp('Content-Type: TEXT/Plain\r\nTransfer-Encoding: chunked\r\n')), 'gzip');
    assert.equal(policy().coding(req(ae), resp('content-type: application/json\r\n')), 'gzip');
    assert.equal(policy({ types: ['*'] }).coding(req(ae), resp('Content-Type: image/png\r\n')), 'gzip');
  });
  const never: Array<[string, string, string, number?, string?, string?]> = [
    ['no Accept-Encoding', '', html],
    ['a Range request', `${ae}Range: bytes=0-1\r\n`, html],
    ['HTTP/1.0', ae, html, 200, 'GET', '1.0'],
    ['206', ae, `${html}Content-Range: bytes 0-1/9\r\n`, 206],
    ['Content-Range on a 200', ae, `${html}Content-Range: bytes 0-1/9\r\n`],
    ['below min_size', ae, 'Content-Type: text/html\r\nContent-Length: 1023\r\n'],
    ['an unlisted type', ae, 'Content-Type: image/png\r\n'],
    ['text/* does not take "text"', ae, 'Content-Type: text\r\n'],
    ['no Content-Type', ae, 'Content-Length: 5000\r\n'],
    ['gRPC, even when every type is listed', ae, 'Content-Type: application/grpc+proto\r\n'],
    ['already encoded', ae, `${html}Content-Encoding: br\r\n`],
    ['no-transform', ae, `${html}Cache-Control: max-age=60, No-Transform\r\n`],
    ['a transfer coding other than chunked', ae, 'Content-Type: text/html\r\nTransfer-Encoding: gzip, chunked\r\n'],
  ];
  for (const [what, reqLines, respLines, status, method, version] of never) {
    const p = what.startsWith('gRPC') ? policy({ types: ['*'] }) : policy();
    it(`not: ${what}`, () => assert.equal(p.coding(req(reqLines, method, version), resp(respLines, status)), null));
  }
  it('an identity Content-Encoding is no encoding; no-transform must be a whole directive', () => {
    assert.equal(policy().coding(req(ae), resp(`${html}Content-Encoding: identity\r\n`)), 'gzip');
    assert.equal(policy().coding(req(ae), resp(`${html}Cache-Control: x-no-transform-ish\r\n`)), 'gzip');
  });
});

describe('the head of a compressed response', () => {
  it('sets Content-Encoding, appends to Vary, weakens a strong ETag, keeps the route\'s rules', () => {
    const r = resp('Vary: Origin\r\nvary: Cookie\r\nETag: "abc"\r\nContent-Encoding: identity\r\n');
    const e = compressedEdit({ remove: new Set(['x-a']), fields: [['X-Frame-Options', 'DENY']] }, r, 'br', true);
    assert.deepEqual([...e.remove].sort(), ['content-encoding', 'etag', 'vary', 'x-a']);
    assert.deepEqual(e.fields, [
      ['content-encoding', 'br'],
      ['transfer-encoding', 'chunked'],
      ['etag', 'W/"abc"'],
      ['vary', 'Origin, Cookie, Accept-Encoding'],
      ['X-Frame-Options', 'DENY'],
    ]);
  });
  it('leaves a Vary naming Accept-Encoding or "*", and a weak ETag, as they are', () => {
    assert.deepEqual(compressedEdit(null, resp('Vary: accept-encoding\r\nETag: W/"x"\r\n'), 'gzip', false).fields, [
      ['content-encoding', 'gzip'],
      ['etag', 'W/"x"'],
      ['vary', 'accept-encoding'],
    ]);
    assert.deepEqual(compressedEdit(null, resp('Vary: *\r\n'), 'gzip', false).fields.at(-1), ['vary', '*']);
  });
  it('a field the route removes stays removed', () => {
    const e = compressedEdit({ remove: new Set(['etag', 'vary']), fields: [] }, resp('Vary: Origin\r\nETag: "abc"\r\n'), 'gzip', false);
    assert.deepEqual(e.fields, [
      ['content-encoding', 'gzip'],
      ['vary', 'Accept-Encoding'],
    ]);
  });
});

/** An encoder's output, as the exchange would see it. */
function harness() {
  const out: Buffer[] = [];
  let last: Buffer | null | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const owner: EncoderOwner = {
    encoded: (d) => out.push(d),
    encodedEnd: (l) => {
      last = l;
      finish();
    },
    encoderFull: () => {},
    encoderDrained: () => {},
    encoderFailed: (err) => assert.fail(err),
  };
  return { out, done, owner, end: () => last };
}

/** Waits (up to 5 s: zlib runs on the thread pool of a loaded machine) until `ready`. */
async function until(ready: () => boolean): Promise<void> {
  for (const t0 = Date.now(); !ready(); ) {
    if (Date.now() - t0 > 5000) assert.fail('the encoder gave nothing within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads HTTP/1.1 chunks back into their data. */
function unchunk(wire: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = wire.indexOf('\r\n', i);
    const size = parseInt(wire.subarray(i, eol).toString('latin1'), 16);
    if (size === 0) {
      assert.equal(wire.subarray(eol).toString('latin1'), '\r\n\r\n', 'the last chunk ends the body');
      return Buffer.concat(parts);
    }
    parts.push(wire.subarray(eol + 2, eol + 2 + size));
    assert.equal(wire.subarray(eol + 2 + size, eol + 4 + size).toString('latin1'), '\r\n');
    i = eol + 4 + size;
  }
}

describe('the streaming encoder', () => {
  const body = Buffer.from('hello compressed world\n'.repeat(500));
  for (const coding of ['gzip', 'br'] as const) {
    it(`${coding}, chunked for HTTP/1.1: each turn's input comes out flushed, the end with the last chunk`, async () => {
      const h = harness();
      const enc = new ResponseEncoder(coding, 4, true, h.owner);
      enc.write(body.subarray(0, 100));
      enc.write(body.subarray(100, 200)); // same turn: one piece
      await until(() => h.out.length > 0);
      assert.equal(h.out.length, 1, 'one chunk for one turn');
      const first = unchunk(Buffer.concat([h.out[0]!, Buffer.from('0\r\n\r\n')]));
      const inflate = coding === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
      const seen = new Promise<Buffer>((r) => inflate.once('data', r));
      inflate.write(first);
      assert.ok((await seen).equals(body.subarray(0, 200)), 'the flushed output decodes to all the input so far');
      inflate.destroy();
      enc.write(body.subarray(200));
      enc.end(null);
      await h.done;
      const wire = Buffer.concat([...h.out, h.end()!]);
      const data = unchunk(wire);
      assert.ok((coding === 'gzip' ? zlib.gunzipSync(data) : zlib.brotliDecompressSync(data)).equals(body));
    });
  }
  it('unframed for HTTP/2, with the last bytes given at the end', async () => {
    const h = harness();
    const enc = new ResponseEncoder('gzip', 6, false, h.owner);
    enc.write(body.subarray(0, 1000));
    enc.end(body.subarray(1000));
    await h.done;
    assert.ok(zlib.gunzipSync(Buffer.concat([...h.out, h.end() ?? Buffer.alloc(0)])).equals(body));
  });
  it('a gzip stream reused for the next response starts a fresh member each time', async () => {
    for (let i = 0; i < 3; i++) {
      const h = harness();
      const enc = new ResponseEncoder('gzip', 6, false, h.owner);
      const text = body.subarray(i * 100);
      enc.write(text);
      enc.end(null);
      await h.done;
      assert.ok(zlib.gunzipSync(Buffer.concat([...h.out, h.end() ?? Buffer.alloc(0)])).equals(text), `response ${i}`);
    }
  });
  it('destroyed: reports nothing more', async () => {
    const h = harness();
    const enc = new ResponseEncoder('gzip', 6, true, h.owner);
    enc.write(body);
    enc.destroy();
    enc.end(null);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.out.length, 0);
    assert.equal(h.end(), undefined);
  });
});

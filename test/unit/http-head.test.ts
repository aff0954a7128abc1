import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HttpParseError, lineEnd, parseRequestHead, parseResponseHead, requestLinePrefixError } from '../../src/proxy/http/head.js';
import { rewriteResponseHead } from '../../src/proxy/http/rewrite.js';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';

const limits = { urlBytes: 64, headerCount: 10 };

function rejects(raw: string, status: number): void {
  assert.throws(
    () => parseRequestHead(raw, limits),
    (e: unknown) => e instanceof HttpParseError && e.status === status,
    `expected ${status} for ${JSON.stringify(raw)}`,
  );
}

test('a plain request head parses with framing facts', () => {
  const h = parseRequestHead('POST /up?x=1 HTTP/1.1\r\nHost: Example.com\r\nContent-Length: 5\r\nConnection: keep-alive, X-Secret\r\n\r\n', limits);
  assert.equal(h.method, 'POST');
  assert.equal(h.target, '/up?x=1');
  assert.equal(h.minor, 1);
  assert.equal(h.host, 'Example.com');
  assert.equal(h.contentLength, 5);
  assert.equal(h.connKeepAlive, true);
  assert.deepEqual(h.connTokens, ['x-secret']);
  assert.deepEqual(h.names, ['Host', 'Content-Length', 'Connection']);
});

test('request heads the grammar forbids are refused with the right status', () => {
  const cases: Array<[string, number]> = [
    ['GET /\r\nHost: a\r\n\r\n', 400],
    ['GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET / http/1.1\r\nHost: a\r\n\r\n', 400],
    ['GE(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHo st: a\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n', 501],
    ['GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n', 417],
    [`GET /${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
    [`GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(10)}\r\n`, 431],
  ];
  for (const [raw, status] of cases) rejects(raw, status);
});

test('identical Content-Length values are one length', () => {
  assert.equal(parseRequestHead('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n', limits).contentLength, 5);
});

test('response heads: status, reason and framing', () => {
  const r = parseResponseHead('HTTP/1.1 204 No Content\r\nX: y\r\n\r\n', 10);
  assert.equal(r.status, 204);
  assert.equal(parseResponseHead('HTTP/1.0 200\r\n\r\n', 10).minor, 0);
  for (const bad of ['HTTP/1.1 99 X\r\n\r\n', 'HTTP/1.1 600 X\r\n\r\n', 'HTTP/1.1 2x0 X\r\n\r\n', 'HTTX/1.1 200 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n']) {
    assert.throws(() => parseResponseHead(bad, 10), (e: unknown) => e instanceof HttpParseError && e.status === 502, bad);
  }
});

/**
 * What a field section means by the grammar, line by line (the parser tests the whole
 * section at once first, and only walks a refused one a character at a time): the fields
 * with their values trimmed, or null when a line breaks the grammar.
 */
function grammarFields(lines: string[]): Array<[string, string]> | null {
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e\x80-\xff]*)$/.exec(line);
    if (m === null) return null;
    out.push([m[1]!, m[2]!.replace(/^[ \t]+|[ \t]+$/g, '')]);
  }
  return out;
}

test('field lines: each starts where the one before ends, the last ends at the final CRLF; dropping any of them cuts exactly its line', () => {
  const lines = ['Connection: X-A', 'X-A: 1', 'X-Keep: 2', 'Keep-Alive: timeout=5', 'Content-Length: 0', 'Connection: keep-alive'];
  const raw = `HTTP/1.1 200 OK\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  const h = parseResponseHead(raw, 100);
  assert.equal(h.lineStarts.length, lines.length);
  for (let k = 0; k < lines.length; k++) {
    assert.equal(raw.slice(h.lineStarts[k], lineEnd(h, k)), `${lines[k]}\r\n`, `line ${k}`);
  }
  assert.equal(lineEnd(h, lines.length - 1), raw.length - 2);
  // hop-by-hop lines first, in the middle (two in a row) and last go; the others stay in order
  assert.equal(rewriteResponseHead(h, false, false, false), 'HTTP/1.1 200 OK\r\nX-Keep: 2\r\nContent-Length: 0\r\n\r\n');
  assert.equal(rewriteResponseHead(h, false, true, false), 'HTTP/1.1 200 OK\r\nX-Keep: 2\r\n\r\n');
});

test('field sections: a head parses exactly when every line keeps the grammar, into the same fields', () => {
  // lines of a name, a colon and a value, each mostly of characters the grammar allows,
  // now and then one at its edges; and lines without a colon or starting with whitespace.
  // CR and LF appear only inside lines (bare CR and LF); names stay clear of the fields
  // the parser acts on.
  const often = <T>(usual: fc.Arbitrary<T>, edge: fc.Arbitrary<T>) => fc.oneof({ arbitrary: usual, weight: 12 }, { arbitrary: edge, weight: 1 });
  const nameChar = often(fc.constantFrom('x', 'Q', '-', '7', '!', '~'), fc.constantFrom(' ', '\t', '"', '(', '\x7f', '\x80', '\x00', '@'));
  const valueChar = often(fc.constantFrom('v', ' ', '\t', ':', '"', '\x80', '\xe9', '\xff', '~'), fc.constantFrom('\x00', '\x7f', '\x0b', '\x1f', '\r', '\n'));
  const text = (c: fc.Arbitrary<string>, minLength: number) => fc.array(c, { minLength, maxLength: 8 }).map((cs) => cs.join(''));
  const line = fc.oneof(
    { arbitrary: fc.tuple(text(nameChar, 1), text(valueChar, 0)).map(([n, v]) => `x${n}:${v}`), weight: 8 },
    { arbitrary: text(valueChar, 1), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(' ', '\t', ''), text(nameChar, 0), fc.constantFrom(' :', '\t:', ':')).map(([a, n, c]) => `${a}${n}${c}v`), weight: 1 },
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
      const raw = `HTTP/1.1 200 OK\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
      // a line holding CRLF CRLF would end the head early, as the reader splits it
      if (raw.indexOf('\r\n\r\n') !== raw.length - 4) return;
      const want = grammarFields(lines.flatMap((l) => l.split('\r\n')));
      let got: Array<[string, string]> | null;
      try {
        const head = parseResponseHead(raw, 100);
        got = head.names.map((n, k) => [n, head.values[k]!]);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        assert.equal(err.status, 502);
        got = null;
      }
      assert.deepEqual(got, want, JSON.stringify(raw));
    }),
    { numRuns: 3000 },
  );
});

test('chunked scanner finds the end across any split and rejects bad framing', () => {
  const body = Buffer.from('5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nNEXT');
  for (let split = 0; split <= body.length; split++) {
    const s = new ChunkedScanner(400, 1024);
    let end = s.scan(body.subarray(0, split), 0, split);
    if (end < 0) {
      const rest = body.subarray(split);
      end = s.scan(rest, 0, rest.length);
      if (end >= 0) end += split;
    }
    assert.equal(end, body.length - 4, `split at ${split}`);
    assert.equal(s.done, true);
  }
  for (const bad of ['zz\r\n', '-1\r\n', '12345678901234\r\n', '5\r\nhelloXX', '5\nhello\r\n']) {
    const s = new ChunkedScanner(400, 1024);
    const b = Buffer.from(bad);
    assert.throws(() => s.scan(b, 0, b.length), HttpParseError, bad);
  }
});

test('an unfinished head: every prefix of a valid request line passes, a byte the grammar forbids is caught at once', () => {
  const check = (s: string) => requestLinePrefixError(Buffer.from(s, 'latin1'), 0, s.length);
  for (const line of ['GET /a/b?c=d HTTP/1.1\r\nHost: x\r\n', 'OPTIONS * HTTP/1.0\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n', '\r']) {
    for (let n = 0; n <= line.length; n++) assert.equal(check(line.slice(0, n)), null, JSON.stringify(line.slice(0, n)));
  }
  assert.match(check('GE\0T')!, /method/);
  assert.match(check(' GET')!, /method/);
  assert.match(check('GET /\x7f')!, /target/);
  assert.match(check('GET / HTTP/1.1x')!, /request line/);
  assert.match(check('GET / HTTP/1.1\rx')!, /request line/);
  assert.match(check('GET / http/1.1')!, /version/);
  assert.match(check('GET / HTTP/a')!, /version/);
});

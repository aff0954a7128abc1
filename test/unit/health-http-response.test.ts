/**
 * The HTTP health-check response reader, without sockets: each case is fed whole, then
 * one byte at a time, then in random splits, and must give the same verdict each way.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProbeResult } from '../../src/health/probe.js';
import { HttpResponseReader, MAX_BODY_BYTES, formatRanges, type HttpExpectation } from '../../src/health/probes/http-response.js';

const OK: HttpExpectation['expectStatus'] = [[200, 399]];

interface Case {
  name: string;
  response: string | Buffer;
  expect?: Partial<HttpExpectation>;
  /** Verdict; `closed` means the verdict is only given when the server closes. */
  ok: boolean;
  detail: string | RegExp;
  closed?: boolean;
}

const big = 'x'.repeat(MAX_BODY_BYTES);

const CASES: Case[] = [
  { name: '200 passes on the status line alone', response: 'HTTP/1.1 200 OK\r\n', ok: true, detail: 'status 200' },
  { name: '302 is in 200-399', response: 'HTTP/1.0 302 Found\r\n', ok: true, detail: 'status 302' },
  { name: '503 fails', response: 'HTTP/1.1 503 Service Unavailable\r\n\r\n', ok: false, detail: 'status 503 not in 200-399' },
  { name: 'several ranges', response: 'HTTP/1.1 404 Not Found\r\n', expect: { expectStatus: [[200, 299], [404, 404]] }, ok: true, detail: 'status 404' },
  { name: 'several ranges, none matching', response: 'HTTP/1.1 301 Moved\r\n', expect: { expectStatus: [[200, 299], [404, 404]] }, ok: false, detail: 'status 301 not in 200-299,404' },
  { name: 'empty reason phrase', response: 'HTTP/1.1 200 \r\n', ok: true, detail: 'status 200' },
  { name: 'no reason phrase at all (lenient)', response: 'HTTP/1.1 204\r\n', ok: true, detail: 'status 204' },
  { name: 'interim 100 Continue is skipped', response: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\n', ok: true, detail: 'status 201' },
  { name: 'garbage', response: 'SSH-2.0-OpenSSH_9.2\r\n', ok: false, detail: /^not an HTTP\/1\.x response: "S/ },
  { name: 'binary garbage', response: Buffer.from([0x16, 0x03, 0x01, 0x00]), ok: false, detail: /^not an HTTP\/1\.x response: "\\u0016/ },
  { name: 'HTTP/2 preface is not HTTP/1.x', response: 'HTTP/2 200\r\n', ok: false, detail: /^not an HTTP\/1\.x response/ },
  { name: 'four-digit status', response: 'HTTP/1.1 2000 OK\r\n', ok: false, detail: 'malformed status line: "HTTP/1.1 2000 OK"' },
  { name: 'status with a letter', response: 'HTTP/1.1 20x OK\r\n', ok: false, detail: /^malformed status line/ },
  { name: 'bare LF', response: 'HTTP/1.1 200 OK\n', ok: false, detail: 'status line not terminated by CRLF' },
  { name: 'control character in the reason', response: 'HTTP/1.1 200 O\x00K\r\n', ok: false, detail: /^malformed status line/ },
  { name: 'closed before anything', response: '', ok: false, detail: 'connection closed without a response', closed: true },
  { name: 'closed in the status line', response: 'HTTP/1.1 20', ok: false, detail: 'connection closed in the status line', closed: true },
  { name: 'status line too long', response: `HTTP/1.1 200 ${'a'.repeat(40_000)}`, ok: false, detail: /^response head longer than 32768 bytes/ },

  // body match
  { name: 'content-length body contains the match', response: 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nall is ready', expect: { bodyMatch: 'ready' }, ok: true, detail: 'status 200, body contains "ready"' },
  { name: 'content-length body without the match', response: 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nstarting', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready"' },
  { name: 'content-length 0', response: 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready" (empty body)' },
  { name: 'body shorter than content-length, then closed', response: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnope', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready" (connection closed after 4 of 100 bytes)', closed: true },
  { name: 'bytes after content-length are not searched', response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcready', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready"' },
  { name: 'status still decides first', response: 'HTTP/1.1 500 Oops\r\nContent-Length: 5\r\n\r\nready', expect: { bodyMatch: 'ready' }, ok: false, detail: 'status 500 not in 200-399' },
  { name: 'chunked, match split across chunks', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: true, detail: 'status 200, body contains "ready"' },
  { name: 'chunked, chunk framing not mistaken for body', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nrea\r\n2\r\ndx\r\n0\r\n\r\n', expect: { bodyMatch: 'a\r\n2' }, ok: false, detail: 'body does not contain "a\\r\\n2"' },
  { name: 'chunked without the match', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nwait\r\n0\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready"' },
  { name: 'chunked overrides content-length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nready\r\n0\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: true, detail: /body contains/ },
  { name: 'bad chunk size', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nready\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'bad chunk size line: "zz"' },
  { name: 'chunk data without CRLF', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nreXX\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'chunk data not followed by CRLF' },
  { name: 'closed inside a chunked body', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nrea', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready" (connection closed inside the chunked body)', closed: true },
  { name: 'close-delimited body with the match', response: 'HTTP/1.0 200 OK\r\n\r\nwe are ready now', expect: { bodyMatch: 'ready' }, ok: true, detail: /body contains "ready"/ },
  { name: 'close-delimited body without the match', response: 'HTTP/1.0 200 OK\r\nServer: x\r\n\r\nnot yet', expect: { bodyMatch: 'ready' }, ok: false, detail: 'body does not contain "ready"', closed: true },
  { name: 'a transfer-encoding other than chunked runs to close', response: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nready', expect: { bodyMatch: 'ready' }, ok: true, detail: /body contains/ },
  { name: 'match at the very end of the 64 KiB window', response: `HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n${big.slice(5)}ready`, expect: { bodyMatch: 'ready' }, ok: true, detail: /body contains/ },
  { name: 'match past the 64 KiB window', response: `HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY_BYTES + 5}\r\n\r\n${big}ready`, expect: { bodyMatch: 'ready' }, ok: false, detail: `body does not contain "ready" in its first ${MAX_BODY_BYTES} bytes` },
  { name: 'match past the window, close-delimited', response: `HTTP/1.1 200 OK\r\n\r\n${big}ready`, expect: { bodyMatch: 'ready' }, ok: false, detail: /in its first 65536 bytes$/ },
  { name: 'UTF-8 match', response: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nétat ok', 'utf8'), expect: { bodyMatch: 'état' }, ok: true, detail: /body contains "état"/ },
  { name: 'HEAD: no body whatever Content-Length says', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', expect: { bodyMatch: 'ready', headRequest: true }, ok: false, detail: 'body does not contain "ready" (the response has no body)' },
  { name: '204 has no body', response: 'HTTP/1.1 204 No Content\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: /\(the response has no body\)$/ },
  { name: 'invalid Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'invalid Content-Length: "-1"' },
  { name: 'conflicting Content-Length', response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nready!', expect: { bodyMatch: 'ready' }, ok: false, detail: 'conflicting Content-Length headers' },
  { name: 'malformed header line', response: 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'malformed header line: "no colon here"' },
  { name: 'space before the colon', response: 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nready', expect: { bodyMatch: 'ready' }, ok: false, detail: /^malformed header line/ },
  { name: 'obsolete line folding', response: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n', expect: { bodyMatch: 'ready' }, ok: false, detail: 'obsolete line folding in the response head' },
  { name: 'closed in the head', response: 'HTTP/1.1 200 OK\r\nContent-Le', expect: { bodyMatch: 'ready' }, ok: false, detail: 'connection closed in the response head', closed: true },
];

function run(c: Case, pieces: Buffer[]): { verdict: ProbeResult; closed: boolean } {
  const reader = new HttpResponseReader({ expectStatus: OK, bodyMatch: null, headRequest: false, ...c.expect });
  for (const p of pieces) {
    const v = reader.feed(p);
    if (v !== null) return { verdict: v, closed: false };
  }
  return { verdict: reader.end(), closed: true };
}

function splits(buf: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  for (let i = 0; i < buf.length; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % 97);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

for (const c of CASES) {
  test(`http response: ${c.name}`, () => {
    const buf = typeof c.response === 'string' ? Buffer.from(c.response, 'latin1') : c.response;
    const ways: Array<[string, Buffer[]]> = [
      ['whole', [buf]],
      ['split at random', splits(buf, buf.length)],
    ];
    if (buf.length < 2000) ways.push(['byte by byte', Array.from(buf, (b) => Buffer.from([b]))]);
    for (const [how, pieces] of ways) {
      const { verdict, closed } = run(c, pieces);
      assert.equal(verdict.ok, c.ok, `${how}: ${verdict.detail}`);
      if (typeof c.detail === 'string') assert.equal(verdict.detail, c.detail, how);
      else assert.match(verdict.detail, c.detail, how);
      assert.equal(closed, c.closed ?? false, `${how}: verdict given only at close`);
    }
  });
}

test('http response: waitingFor() names the phase', () => {
  const r = new HttpResponseReader({ expectStatus: OK, bodyMatch: 'x', headRequest: false });
  assert.equal(r.waitingFor(), 'status line');
  assert.equal(r.feed(Buffer.from('HTTP/1.1 200 OK\r\n')), null);
  assert.equal(r.waitingFor(), 'response head');
  assert.equal(r.feed(Buffer.from('Content-Length: 10\r\n\r\nabc')), null);
  assert.equal(r.waitingFor(), 'body (3 bytes read)');
});

test('http response: formatRanges', () => {
  assert.equal(formatRanges([[200, 399]]), '200-399');
  assert.equal(formatRanges([[200, 299], [404, 404]]), '200-299,404');
});

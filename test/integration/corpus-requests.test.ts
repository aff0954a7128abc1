/**
 * Malformed-request corpus: raw bytes from a client -> the proxy's own error status, a
 * FIN afterwards, and not one byte forwarded to the backend (no request smuggling).
 * Plus the few oddities that must be accepted, and a good request at the end to show
 * the proxy still serves normally after every rejection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Instance } from '../../src/runtime/instance.js';
import { assertErrorReply, corpusYaml, parseResponse, watchUncaught } from '../helpers/corpus-harness.js';
import { okScript, scriptedBackend, type ScriptedBackend } from '../helpers/backends.js';
import { rawReply, type ClientStep } from '../helpers/http-client.js';
import { sleep } from '../helpers/wait.js';
import { startProxy } from '../helpers/proxies.js';

const H = 'Host: corpus.test\r\n';

interface RejectCase {
  name: string;
  input: ClientStep | ClientStep[];
  status: number;
  /** What the error body should talk about (loose, case-insensitive). */
  mention?: RegExp;
  /** Minimum time before the answer (timeouts). */
  minMs?: number;
  /** The answer must come sooner than this (before the 300 ms header timeout): refused at once. */
  maxMs?: number;
}

const post = (framing: string, body: string): string => `POST /upload HTTP/1.1\r\n${H}${framing}\r\n${body}`;
const chunkedPost = (body: string): string => post('Transfer-Encoding: chunked\r\n', body);

const REJECT: RejectCase[] = [
  // ---- request line ----
  { name: 'request line without version', input: `GET /\r\n${H}\r\n`, status: 400 },
  { name: 'HTTP/0.9-style request line (no version, no headers)', input: 'GET /\r\n\r\n', status: 400 },
  { name: 'two spaces between method and target', input: `GET  / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'two spaces between target and version', input: `GET /  HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'trailing space after the version', input: `GET / HTTP/1.1 \r\n${H}\r\n`, status: 400 },
  { name: 'leading space before the method', input: ` GET / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'lower-case "http/1.1"', input: `GET / http/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'version with an extra digit "HTTP/1.10"', input: `GET / HTTP/1.10\r\n${H}\r\n`, status: 400 },
  { name: 'tab between method and target', input: `GET\t/ HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'tab between target and version', input: `GET /\tHTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'space inside the target', input: `GET /a b HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'method with "("', input: `GE(T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'method with "@"', input: `G@T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'method with NUL', input: `GE\x00T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'method with non-ASCII byte', input: `G\xc9T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'non-ASCII (latin1 0xE9) in the target', input: `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'non-ASCII (UTF-8) in the target', input: Buffer.concat([Buffer.from('GET /caf'), Buffer.from('é'), Buffer.from(` HTTP/1.1\r\n${H}\r\n`)]), status: 400 },
  { name: 'NUL in the target', input: `GET /a\x00b HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'DEL in the target', input: `GET /a\x7fb HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'bare LF line endings throughout', input: 'GET / HTTP/1.1\nHost: corpus.test\n\n', status: 400 },
  { name: 'bare CR ending the request line', input: `GET / HTTP/1.1\r${H}\r\n`, status: 400 },

  // ---- header fields ----
  { name: 'space inside a header name ("Fo o:")', input: `GET / HTTP/1.1\r\n${H}Fo o: bar\r\n\r\n`, status: 400, mention: /header/i },
  { name: '"@" in a header name ("Foo@:")', input: `GET / HTTP/1.1\r\n${H}Foo@: bar\r\n\r\n`, status: 400, mention: /header/i },
  { name: 'empty header name', input: `GET / HTTP/1.1\r\n${H}: bar\r\n\r\n`, status: 400, mention: /header/i },
  { name: 'header line without a colon', input: `GET / HTTP/1.1\r\n${H}Foobar\r\n\r\n`, status: 400, mention: /header/i },
  { name: 'space before the colon', input: `GET / HTTP/1.1\r\n${H}Foo : bar\r\n\r\n`, status: 400, mention: /header|colon/i },
  { name: 'tab before the colon', input: `GET / HTTP/1.1\r\n${H}Foo\t: bar\r\n\r\n`, status: 400, mention: /header|colon/i },
  { name: 'space before the colon of Transfer-Encoding (+CL)', input: post('Content-Length: 5\r\nTransfer-Encoding : chunked\r\n', '0\r\n\r\n'), status: 400 },
  { name: 'obs-fold (continuation line with space)', input: `GET / HTTP/1.1\r\n${H}Foo: a\r\n b\r\n\r\n`, status: 400, mention: /fold/i },
  { name: 'obs-fold (continuation line with tab)', input: `GET / HTTP/1.1\r\n${H}Foo: a\r\n\tb\r\n\r\n`, status: 400, mention: /fold/i },
  { name: 'obs-fold as the first header line', input: `GET / HTTP/1.1\r\n Foo: a\r\n${H}\r\n`, status: 400 },
  { name: 'NUL in a header value', input: `GET / HTTP/1.1\r\n${H}Foo: a\x00b\r\n\r\n`, status: 400 },
  { name: 'bare CR in a header value', input: `GET / HTTP/1.1\r\n${H}Foo: a\rb\r\n\r\n`, status: 400 },
  { name: 'bare LF in a header value', input: `GET / HTTP/1.1\r\n${H}Foo: a\nb\r\n\r\n`, status: 400 },
  { name: 'bare LF ending a header line', input: `GET / HTTP/1.1\r\nFoo: a\n${H}\r\n`, status: 400 },
  { name: 'DEL in a header value', input: `GET / HTTP/1.1\r\n${H}Foo: a\x7fb\r\n\r\n`, status: 400 },
  { name: 'other control char (0x01) in a header value', input: `GET / HTTP/1.1\r\n${H}Foo: a\x01b\r\n\r\n`, status: 400 },

  // ---- Content-Length ----
  { name: 'two differing Content-Length headers', input: post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'), status: 400, mention: /content-length/i },
  { name: 'differing Content-Length list "5, 6"', input: post('Content-Length: 5, 6\r\n', 'hello!'), status: 400, mention: /content-length/i },
  { name: 'Content-Length "abc"', input: post('Content-Length: abc\r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length "+5"', input: post('Content-Length: +5\r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length "-1"', input: post('Content-Length: -1\r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length empty', input: post('Content-Length: \r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length "0x5"', input: post('Content-Length: 0x5\r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length "5 5" (no comma)', input: post('Content-Length: 5 5\r\n', 'hello'), status: 400, mention: /content-length/i },
  { name: 'Content-Length with 20 digits', input: post('Content-Length: 12345678901234567890\r\n', 'hello'), status: 400, mention: /content-length/i },

  // ---- Transfer-Encoding ----
  {
    name: 'Content-Length plus Transfer-Encoding (smuggling attempt)',
    input: post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`),
    status: 400,
    mention: /content-length|transfer-encoding/i,
  },
  { name: 'Transfer-Encoding "gzip" (not ending in chunked)', input: post('Transfer-Encoding: gzip\r\n', 'xxxx'), status: 400, mention: /transfer-encoding|chunked/i },
  { name: 'Transfer-Encoding "identity"', input: post('Transfer-Encoding: identity\r\n', 'xxxx'), status: 400, mention: /transfer-encoding|chunked/i },
  { name: 'Transfer-Encoding "chunked, gzip"', input: post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'), status: 400, mention: /transfer|chunked|coding/i },
  { name: 'Transfer-Encoding "chunked, chunked"', input: chunkedPost('0\r\n\r\n').replace('chunked\r\n', 'chunked, chunked\r\n'), status: 400, mention: /chunked/i },
  {
    name: 'Transfer-Encoding chunked in two header lines (= "chunked, chunked")',
    input: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    status: 400,
    mention: /chunked/i,
  },
  { name: 'Transfer-Encoding in HTTP/1.0', input: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, mention: /transfer-encoding|1\.0/i },
  { name: 'Transfer-Encoding "xchunked"', input: post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), status: 400 },
  // found by the llhttp differential fuzzer: String.prototype.trim also strips NBSP, so
  // this read as chunked to us and as an unknown coding to a server (smuggling)
  { name: 'Transfer-Encoding "chunked" then NBSP (0xA0)', input: post('Transfer-Encoding: chunked\xa0\r\n', '5\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunked|coding/i },

  // ---- chunked framing (whole request in one write: nothing may reach the backend) ----
  { name: 'chunk size "zz"', input: chunkedPost('zz\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk/i },
  { name: 'chunk size "-1"', input: chunkedPost('-1\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk/i },
  { name: 'chunk size overlong (14 hex digits)', input: chunkedPost('10000000000000\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk/i },
  { name: 'chunk size "0x5"', input: chunkedPost('0x5\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk/i },
  { name: 'chunk size empty', input: chunkedPost('\r\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk/i },
  { name: 'missing CRLF after chunk data', input: chunkedPost(`5\r\nhelloXX0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`), status: 400, mention: /chunk|crlf/i },
  { name: 'bare LF after chunk size', input: chunkedPost('5\nhello\r\n0\r\n\r\n'), status: 400, mention: /chunk|lf/i },
  { name: 'bare LF after chunk data', input: chunkedPost('5\r\nhello\n0\r\n\r\n'), status: 400, mention: /chunk|crlf/i },

  // ---- Host ----
  { name: 'missing Host in HTTP/1.1', input: 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', status: 400, mention: /host/i },
  { name: 'two Host headers', input: `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, status: 400, mention: /host/i },
  { name: 'two identical Host headers', input: `GET / HTTP/1.1\r\n${H}${H}\r\n`, status: 400, mention: /host/i },
  { name: 'Host "a b"', input: 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', status: 400, mention: /host/i },
  { name: 'Host "x/y"', input: 'GET / HTTP/1.1\r\nHost: x/y\r\n\r\n', status: 400, mention: /host/i },
  { name: 'Host with userinfo "u@x"', input: 'GET / HTTP/1.1\r\nHost: u@x\r\n\r\n', status: 400, mention: /host/i },

  // ---- sizes ----
  { name: 'one huge header (431)', input: `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(5000)}\r\n\r\n`, status: 431 },
  {
    name: 'one huge header that never ends (431 before the head is complete)',
    input: [`GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(2000)}`, { pauseMs: 30 }, 'b'.repeat(3000)],
    status: 431,
  },
  { name: 'more headers than header_count (431)', input: `GET / HTTP/1.1\r\n${H}${Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`, status: 431 },
  { name: 'target longer than url_size (414)', input: `GET /${'u'.repeat(2000)} HTTP/1.1\r\n${H}\r\n`, status: 414 },
  { name: 'target longer than header_size (414)', input: `GET /${'u'.repeat(6000)} HTTP/1.1\r\n${H}\r\n`, status: 414 },

  // ---- versions, methods, expectations ----
  { name: 'HTTP/2.0 request line (505)', input: `GET / HTTP/2.0\r\n${H}\r\n`, status: 505, mention: /version/i },
  { name: 'HTTP/3.0 request line (505)', input: `GET / HTTP/3.0\r\n${H}\r\n`, status: 505, mention: /version/i },
  { name: 'CONNECT (501)', input: 'CONNECT corpus.test:443 HTTP/1.1\r\nHost: corpus.test:443\r\n\r\n', status: 501, mention: /connect/i },
  { name: 'unknown Expect (417)', input: `POST / HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 5\r\n\r\nhello`, status: 417, mention: /expect/i },

  // ---- slow head ----
  { name: 'head stops arriving half way (408)', input: `GET / HTTP/1.1\r\n${H}X-Slow: 1\r\n`, status: 408, mention: /time/i, minMs: 250 },
  { name: 'request line stops arriving (408)', input: 'GET /slo', status: 408, mention: /time/i, minMs: 250 },

  // ---- a request line that can no longer be valid: 400 at once, not 408 after the header timeout ----
  { name: 'NUL in the method of an unfinished head', input: 'GE\0T / HTTP/1.1\r\nHost: x', status: 400, mention: /method/i, maxMs: 200 },
  { name: 'bad character in the method of an unfinished head', input: 'G(T /', status: 400, mention: /method/i, maxMs: 200 },
  { name: 'leading space before the method, head unfinished', input: ' GET / HTTP/1.1\r\n', status: 400, mention: /method/i, maxMs: 200 },
  { name: 'NUL in the target of an unfinished head', input: 'GET /a\0b HTTP/1.1\r\n', status: 400, mention: /target/i, maxMs: 200 },
  { name: 'two spaces after the target, head unfinished', input: 'GET /a  HTTP/1.1\r\n', status: 400, mention: /version|request line/i, maxMs: 200 },
  { name: 'garbage version in an unfinished head', input: 'GET / HTXP/1.1', status: 400, mention: /version/i, maxMs: 200 },
];

describe('corpus: malformed requests are refused and never forwarded', () => {
  let backend: ScriptedBackend;
  let instance: Instance | undefined;
  let port = 0;
  const uncaught = watchUncaught();

  before(async () => {
    backend = await scriptedBackend(okScript);
    ({ instance, port } = await startProxy(corpusYaml({ mainPort: backend.port })));
  });
  after(async () => {
    uncaught.stop();
    await instance?.stop({ graceMs: 0 });
    await backend?.close();
  });

  for (const c of REJECT) {
    it(`${c.status}: ${c.name}`, async () => {
      backend.reset();
      uncaught.take();
      const reply = await rawReply(port, c.input, 2000);
      assert.deepEqual(uncaught.take(), [], 'the proxy threw from a socket handler (would crash the process)');
      assertErrorReply(reply, c.status, c.mention);
      if (c.minMs !== undefined) assert.ok(reply.elapsedMs >= c.minMs, `answered after ${reply.elapsedMs} ms, before the timeout`);
      if (c.maxMs !== undefined) assert.ok(reply.elapsedMs < c.maxMs, `answered after ${reply.elapsedMs} ms: waited for the timeout`);
      await sleep(30); // let any stray upstream write land
      const got = backend.bytes();
      assert.equal(got.length, 0, `backend must receive nothing, got ${JSON.stringify(got.toString('latin1').slice(0, 300))}`);
      assert.equal(backend.requests.length, 0, 'backend saw no request');
    });
  }

  it('400: bad chunk arriving after the head was forwarded: the bad bytes and what follows never reach the backend', async () => {
    backend.reset();
    const head = `POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
    const reply = await rawReply(port, [head, { pauseMs: 100 }, `5\r\nhelloXX0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`], 2000);
    assertErrorReply(reply, 400, /chunk|crlf/i);
    await sleep(30);
    const got = backend.bytes().toString('latin1');
    assert.ok(!got.includes('smuggled'), `backend must not see the smuggled request: ${JSON.stringify(got)}`);
    assert.ok(!got.includes('hello'), `backend must not see the invalid chunk: ${JSON.stringify(got)}`);
    assert.equal(backend.requests.length, 0, 'backend saw no complete request');
  });

  it('400: bad chunk in the first packet while a pooled (reused) upstream connection is idle: answered, nothing forwarded', async () => {
    // warm the upstream keep-alive pool with one good request
    backend.reset();
    backend.script = okScript;
    const warm = await rawReply(port, `GET /warm HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 2000);
    assert.equal(parseResponse(warm.text)?.status, 200, 'warm-up request served');
    backend.reset();
    uncaught.take();
    const reply = await rawReply(port, chunkedPost(`zz\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`), 2000);
    assert.deepEqual(uncaught.take(), [], 'the proxy threw from a socket handler (would crash the process)');
    assertErrorReply(reply, 400, /chunk/i);
    await sleep(30);
    const got = backend.bytes();
    assert.equal(got.length, 0, `backend must receive nothing, got ${JSON.stringify(got.toString('latin1').slice(0, 300))}`);
  });

  it('400 after a good pipelined request: the first is answered, the malformed second is refused and not forwarded', async () => {
    backend.reset();
    backend.script = okScript;
    uncaught.take();
    const reply = await rawReply(port, `GET /first HTTP/1.1\r\n${H}\r\nGET /second HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx`, 2000);
    assert.deepEqual(uncaught.take(), []);
    const first = parseResponse(reply.text);
    assert.ok(first, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(first.status, 200);
    assertErrorReply({ ...reply, text: first.rest }, 400, /content-length/i);
    await sleep(30);
    assert.deepEqual(backend.requests.map((r) => r.head.split('\r\n')[0]), ['GET /first HTTP/1.1']);
    assert.ok(!backend.bytes().toString('latin1').includes('/second'), 'second request never forwarded');
  });

  it('accepts identical duplicate Content-Length "5, 5" and forwards one clean Content-Length', async () => {
    backend.reset();
    backend.script = okScript;
    const reply = await rawReply(port, `POST /dup HTTP/1.1\r\n${H}Content-Length: 5, 5\r\nConnection: close\r\n\r\nhello`, 2000);
    const res = parseResponse(reply.text);
    assert.ok(res, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(res.status, 200, reply.text.slice(0, 300));
    assert.equal(res.body, 'backend ok\n');
    assert.equal(reply.ended, true, 'Connection: close honoured with FIN');
    assert.equal(backend.requests.length, 1);
    const fwd = backend.requests[0]!;
    const lengths = fwd.head.split('\r\n').filter((l) => /^content-length\s*:/i.test(l));
    assert.deepEqual(lengths, ['Content-Length: 5'], `forwarded head: ${JSON.stringify(fwd.head)}`);
    assert.equal(fwd.body.toString('latin1'), 'hello');
  });

  it('accepts identical duplicate Content-Length in two header lines and forwards one', async () => {
    backend.reset();
    const reply = await rawReply(port, `POST /dup2 HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`, 2000);
    const res = parseResponse(reply.text);
    assert.ok(res, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(res.status, 200);
    assert.equal(backend.requests.length, 1);
    const lengths = backend.requests[0]!.head.split('\r\n').filter((l) => /^content-length\s*:/i.test(l));
    assert.deepEqual(lengths, ['Content-Length: 5']);
    assert.equal(backend.requests[0]!.body.toString('latin1'), 'hello');
  });

  it('accepts an empty line (CRLF) before the request line', async () => {
    backend.reset();
    const reply = await rawReply(port, `\r\nGET /leading-crlf HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 2000);
    const res = parseResponse(reply.text);
    assert.ok(res, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(res.status, 200);
    assert.equal(reply.ended, true);
    assert.equal(backend.requests.length, 1);
    assert.ok(backend.requests[0]!.head.startsWith('GET /leading-crlf HTTP/1.1\r\n'), JSON.stringify(backend.requests[0]!.head));
  });

  it('still serves a good request normally after all of the above', async () => {
    backend.reset();
    // keep-alive: two requests on one connection, then Connection: close
    const reply = await rawReply(
      port,
      [`GET /good HTTP/1.1\r\n${H}\r\n`, { pauseMs: 50 }, `GET /good2 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
      2000,
    );
    const first = parseResponse(reply.text);
    assert.ok(first, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'backend ok\n');
    const second = parseResponse(first.rest);
    assert.ok(second, `expected a second response, got ${JSON.stringify(first.rest.slice(0, 200))}`);
    assert.equal(second.status, 200);
    assert.equal(second.rest, '');
    assert.equal(reply.ended, true);
    assert.deepEqual(
      backend.requests.map((r) => r.head.split('\r\n')[0]),
      ['GET /good HTTP/1.1', 'GET /good2 HTTP/1.1'],
    );
  });
});

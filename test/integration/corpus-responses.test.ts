/**
 * Malformed-response corpus: the backend answers a good request with bad bytes (or not
 * at all) -> the proxy answers 502/503/504 itself with a text body and closes; when
 * the response head was already relayed, the client connection is cut before a complete
 * body. A good request at the end shows the proxy still serves normally.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Instance } from '../../src/runtime/instance.js';
import { assertErrorReply, corpusYaml, parseResponse, parseStatusLine, watchUncaught } from '../helpers/corpus-harness.js';
import { closeScript, okScript, sendRaw, sendRawThenClose, silentScript, scriptedBackend, type ScriptedBackend, type BackendScript } from '../helpers/backends.js';
import { rawReply } from '../helpers/http-client.js';
import { closedPort } from '../helpers/ports.js';
import { startProxy } from '../helpers/proxies.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

const GET = 'GET /corpus HTTP/1.1\r\nHost: corpus.test\r\n\r\n';

interface ResponseCase {
  name: string;
  script: BackendScript;
  status: number;
  mention?: RegExp;
  /** Minimum time before the answer (timeouts). */
  minMs?: number;
  /** Request to send (default GET). */
  request?: string;
}

const ok = (headers: string, body = 'ok'): string => `HTTP/1.1 200 OK\r\n${headers}\r\n${body}`;

const BAD: ResponseCase[] = [
  // ---- status line ----
  { name: 'garbage status line', script: sendRaw('HELLO THERE\r\n\r\n'), status: 502, mention: /invalid|malformed|response/i },
  { name: 'not HTTP at all (binary)', script: sendRaw(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x0d, 0x0a, 0x0d, 0x0a])), status: 502 },
  { name: 'status code 99', script: sendRaw('HTTP/1.1 99 Too Low\r\nContent-Length: 0\r\n\r\n'), status: 502, mention: /status/i },
  { name: 'status code 600', script: sendRaw('HTTP/1.1 600 Too High\r\nContent-Length: 0\r\n\r\n'), status: 502, mention: /status/i },
  { name: 'status code "2x0"', script: sendRaw('HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n'), status: 502, mention: /status/i },
  { name: 'status code 2000 (four digits)', script: sendRaw('HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'), status: 502 },
  { name: 'lower-case "http/1.1" status line', script: sendRaw('http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), status: 502 },
  { name: 'HTTP/2.0 status line', script: sendRaw('HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), status: 502 },
  { name: 'two spaces before the status code', script: sendRaw('HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n'), status: 502 },
  { name: 'NUL in the reason phrase', script: sendRaw('HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n'), status: 502 },

  // ---- header fields ----
  { name: 'space inside a header name', script: sendRaw(ok('Fo o: bar\r\nContent-Length: 2\r\n')), status: 502, mention: /header/i },
  { name: '"@" in a header name', script: sendRaw(ok('Foo@: bar\r\nContent-Length: 2\r\n')), status: 502, mention: /header/i },
  { name: 'space before the colon', script: sendRaw(ok('Content-Length : 2\r\n')), status: 502, mention: /header|colon/i },
  { name: 'obs-fold', script: sendRaw(ok('Foo: a\r\n b\r\nContent-Length: 2\r\n')), status: 502, mention: /fold/i },
  { name: 'NUL in a header value', script: sendRaw(ok('Foo: a\x00b\r\nContent-Length: 2\r\n')), status: 502 },
  { name: 'bare CR in a header value', script: sendRaw(ok('Foo: a\rb\r\nContent-Length: 2\r\n')), status: 502 },
  { name: 'more header fields than header_count', script: sendRaw(ok(`${Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('')}Content-Length: 2\r\n`)), status: 502 },

  // ---- framing ----
  { name: 'two differing Content-Length headers', script: sendRaw(ok('Content-Length: 2\r\nContent-Length: 3\r\n')), status: 502, mention: /content-length/i },
  { name: 'differing Content-Length list "2, 3"', script: sendRaw(ok('Content-Length: 2, 3\r\n')), status: 502, mention: /content-length/i },
  { name: 'Content-Length "abc"', script: sendRaw(ok('Content-Length: abc\r\n')), status: 502, mention: /content-length/i },
  { name: 'Content-Length "-1"', script: sendRaw(ok('Content-Length: -1\r\n')), status: 502, mention: /content-length/i },
  { name: 'bare LF line endings (server keeps the connection)', script: sendRaw('HTTP/1.1 200 OK\nContent-Length: 2\n\nok'), status: 502 },
  { name: 'bare LF line endings (server closes)', script: sendRawThenClose('HTTP/1.1 200 OK\nContent-Length: 2\n\nok'), status: 502 },
  { name: 'response head larger than header_size (one write)', script: sendRaw(ok(`X-Big: ${'a'.repeat(5000)}\r\nContent-Length: 2\r\n`)), status: 502, mention: /large|size|head/i },
  { name: 'response head larger than header_size (never ends)', script: sendRaw(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(10000)}`), status: 502, mention: /large|size|head/i },

  // ---- server goes away or stays silent ----
  { name: 'server closes before responding', script: closeScript, status: 502, mention: /clos/i },
  { name: 'server resets before responding', script: (_r, s) => s.resetAndDestroy(), status: 502 },
  { name: 'server sends half a status line, then closes', script: sendRawThenClose('HTTP/1.1 20'), status: 502 },
  { name: 'server never answers (504 after the server timeout)', script: silentScript, status: 504, mention: /time/i, minMs: 400 },
  { name: 'server sends a partial head, then nothing (504)', script: sendRaw('HTTP/1.1 200 OK\r\nContent-'), status: 504, mention: /time/i, minMs: 400 },
  { name: 'server refuses connections (503)', script: okScript, request: 'GET / HTTP/1.1\r\nHost: refused.test\r\n\r\n', status: 503, mention: /connect|server/i },
];

/** The head was relayed already: the client must see a cut connection, never a complete body. */
interface CutCase {
  name: string;
  script: BackendScript;
  /** True when the relayed bytes form a complete message (must never be). */
  complete: (text: string) => boolean;
}

const chunkedDone = (text: string): boolean => /\r\n0\r\n(?:[^\r]*\r\n)*\r\n$/.test(text) || text.endsWith('\r\n\r\n0\r\n\r\n');

const CUT: CutCase[] = [
  { name: 'bad chunk size "zz" in a chunked response', script: sendRaw(ok('Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n')), complete: chunkedDone },
  { name: 'bad chunk size "-1" in a chunked response', script: sendRaw(ok('Transfer-Encoding: chunked\r\n', '-1\r\nhello\r\n0\r\n\r\n')), complete: chunkedDone },
  { name: 'missing CRLF after chunk data in a chunked response', script: sendRaw(ok('Transfer-Encoding: chunked\r\n', '5\r\nhelloXX0\r\n\r\n')), complete: chunkedDone },
  {
    name: 'bad chunk after a good chunk, in a later packet',
    script: (_r, sock) => {
      sock.write(ok('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n'));
      setTimeout(() => !sock.destroyed && sock.write('zz\r\nworld\r\n0\r\n\r\n'), 50);
    },
    complete: chunkedDone,
  },
  {
    name: 'server closes in the middle of a Content-Length body',
    script: sendRawThenClose(ok('Content-Length: 10\r\n', 'hello')),
    complete: () => false, // only 5 of 10 bytes exist; checked through Content-Length below
  },
  {
    name: 'server closes in the middle of a chunked body',
    script: sendRawThenClose(ok('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n')),
    complete: chunkedDone,
  },
];

describe('corpus: bad responses become 502/503/504 or a cut connection', () => {
  let backend: ScriptedBackend;
  let instance: Instance | undefined;
  let port = 0;
  const uncaught = watchUncaught();
  const errors = recordUpstreamErrors();

  before(async () => {
    const refused = await closedPort();
    backend = await scriptedBackend(okScript);
    ({ instance, port } = await startProxy(corpusYaml({ mainPort: backend.port, refusedPort: refused })));
  });
  after(async () => {
    uncaught.stop();
    errors.stop();
    await instance?.stop({ graceMs: 0 });
    await backend?.close();
  });

  for (const c of BAD) {
    it(`${c.status}: ${c.name}`, async () => {
      backend.reset();
      backend.script = c.script;
      uncaught.take();
      const reply = await rawReply(port, c.request ?? GET, 2500);
      assert.deepEqual(uncaught.take(), [], 'the proxy threw from a socket handler (would crash the process)');
      const res = assertErrorReply(reply, c.status);
      // what went wrong is in the log, not in the body
      if (c.mention !== undefined) assert.match(errors.last(c.status), c.mention, 'the log says what happened');
      assert.equal(res.body, upstreamErrorBody(c.status), 'the body names no server, pool or address');
      if (c.minMs !== undefined) assert.ok(reply.elapsedMs >= c.minMs, `answered after ${reply.elapsedMs} ms, before the server timeout`);
      if (c.request === undefined) assert.equal(backend.requests.length, 1, 'the request did reach the backend');
    });
  }

  for (const c of CUT) {
    it(`cut: ${c.name}`, async () => {
      backend.reset();
      backend.script = c.script;
      uncaught.take();
      const reply = await rawReply(port, GET, 2500);
      assert.deepEqual(uncaught.take(), [], 'the proxy threw from a socket handler (would crash the process)');
      const sl = parseStatusLine(reply.text);
      assert.ok(sl, `the relayed head starts the reply: ${JSON.stringify(reply.text.slice(0, 200))}`);
      assert.equal(sl.status, 200);
      assert.equal(reply.timedOut, false, `the proxy cut the connection (got ${JSON.stringify(reply.text)})`);
      assert.ok(reply.ended || reply.error !== undefined, 'connection closed or reset');
      assert.ok(!c.complete(reply.text), `the client must not see a complete body: ${JSON.stringify(reply.text)}`);
      const res = parseResponse(reply.text);
      if (res !== undefined && res.headers.has('content-length')) assert.equal(res.complete, false, 'Content-Length body incomplete');
      assert.ok(!/\r\n\r\n[\s\S]*HTTP\/1\.1 50\d/.test(reply.text), 'no error response appended to a relayed one');
    });
  }

  it('still serves a good request normally after all of the above', async () => {
    backend.reset();
    backend.script = okScript;
    const reply = await rawReply(
      port,
      [GET, { pauseMs: 50 }, 'GET /again HTTP/1.1\r\nHost: corpus.test\r\nConnection: close\r\n\r\n'],
      2000,
    );
    const first = parseResponse(reply.text);
    assert.ok(first, `expected a response, got ${JSON.stringify(reply.text.slice(0, 200))}`);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'backend ok\n');
    const second = parseResponse(first.rest);
    assert.ok(second, `expected a second response, got ${JSON.stringify(first.rest.slice(0, 200))}`);
    assert.equal(second.status, 200);
    assert.equal(second.body, 'backend ok\n');
    assert.equal(reply.ended, true);
    assert.equal(backend.requests.length, 2);
  });
});

/**
 * The pure parts of HTTPS and HTTP/2 at the edge: the SNI table, certificate names, the
 * HTTP/2 <-> HTTP/1.1 header translation, the chunked decoder (checked against the
 * HTTP/1.1 engine's scanner on the same inputs) and HTTPS redirect URLs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';
import { HttpParseError, parseRequestHead, parseResponseHead, type RequestHead } from '../../src/proxy/http/head.js';
import { httpsUrl } from '../../src/proxy/http/https-redirect.js';
import { http2ResponseHeaders, requestHeadOfFields } from '../../src/proxy/http2/headers.js';
import { SniTable } from '../../src/tls/sni-table.js';

describe('SniTable', () => {
  const t = new SniTable<string>();
  t.add('www.example.com', 'www');
  t.add('*.example.org', 'wild');
  t.add('api.example.org', 'api');
  t.add('www.example.com', 'second');

  it('exact names, any case, with or without the trailing dot; the first entry of a name wins', () => {
    assert.equal(t.lookup('www.example.com'), 'www');
    assert.equal(t.lookup('WWW.Example.COM.'), 'www');
  });
  it('an exact name beats a wildcard; a wildcard covers one label', () => {
    assert.equal(t.lookup('api.example.org'), 'api');
    assert.equal(t.lookup('a.example.org'), 'wild');
    assert.equal(t.lookup('a.b.example.org'), undefined);
    assert.equal(t.lookup('example.org'), undefined);
    assert.equal(t.lookup('localhost'), undefined);
  });
});

describe('requestHeadOfFields', () => {
  const raw = (...pairs: Array<[string, string]>) => pairs.flat();
  const limits = { urlBytes: 8192, headerCount: 100, headerBytes: 16384 };
  const head = (fields: string[]) => requestHeadOfFields(fields, limits) as RequestHead;
  const status = (fields: string[]) => (requestHeadOfFields(fields, limits) as { status?: number }).status ?? 'ok';

  it('method, target and Host from the pseudo-header fields; cookie crumbs joined; host dropped for :authority', () => {
    const req = head(raw([':method', 'POST'], [':scheme', 'https'], [':authority', 'www.example.com'], [':path', '/a?b'], ['cookie', 'a=1'], ['x-a', '1'], ['cookie', 'b=2'], ['host', 'other'], ['te', 'trailers']));
    assert.equal(req.method, 'POST');
    assert.equal(req.target, '/a?b');
    assert.equal(req.host, 'www.example.com');
    assert.deepEqual(req.names, ['Host', 'x-a', 'te', 'cookie']);
    assert.deepEqual(req.values, ['www.example.com', '1', 'trailers', 'a=1; b=2']);
    assert.equal(req.raw, '');
  });
  it('Host when there is no :authority; Content-Length read as the parser reads it', () => {
    const req = head(raw([':method', 'GET'], [':path', '/'], ['host', 'h.example'], ['content-length', '5']));
    assert.equal(req.host, 'h.example');
    assert.equal(req.contentLength, 5);
  });
  it('refuses CONNECT, extended CONNECT, missing fields and connection-specific fields', () => {
    assert.deepEqual(requestHeadOfFields(raw([':method', 'CONNECT'], [':authority', 'h:443']), limits), { status: 501, reason: 'CONNECT is not supported' });
    assert.equal(status(raw([':method', 'CONNECT'], [':protocol', 'websocket'], [':path', '/'], [':authority', 'h'])), 501);
    assert.equal(status(raw([':method', 'GET'], [':authority', 'h'])), 400);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'])), 400);
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) {
      assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], [name, 'x'])), 400, name);
    }
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['te', 'gzip'])), 400);
  });
  it('what HTTP/1.1 forbids is refused by the same rules (no smuggling through HTTP/2), and the limits hold', () => {
    assert.equal(status(raw([':method', 'GET'], [':path', '/a b'], [':authority', 'h'])), 400);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h/x'])), 400);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['x', 'a\u0001b'])), 400);
    assert.equal(status(raw([':method', 'G(T'], [':path', '/'], [':authority', 'h'])), 400);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['content-length', '1, 2'])), 400);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['expect', 'nonsense'])), 417);
    assert.equal(status(raw([':method', 'GET'], [':path', `/${'a'.repeat(9000)}`], [':authority', 'h'])), 414);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['x', 'a'.repeat(17000)])), 431);
    assert.equal(status(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ...Array.from({ length: 100 }, (_, i): [string, string] => [`x-${i}`, '1']))), 431);
    assert.equal(head(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['x', ' padded '])).values[1], 'padded');
  });
});

describe('http2ResponseHeaders', () => {
  const resp = (text: string) => parseResponseHead(text, 100);

  it(':status, lower-case names, repeats as lists, hop-by-hop fields and the ones Connection names dropped, extras added', () => {
    const h = http2ResponseHeaders(
      resp('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nSet-Cookie: b=2\r\nUpgrade: h2c\r\nHTTP2-Settings: x\r\nX-Multi: 1\r\nX-Multi: 2\r\nContent-Type: text/html\r\n\r\n'),
      true,
      [['via', '1.1 fulcrum']],
    );
    assert.deepEqual(h, { ':status': 200, 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-multi': ['1', '2'], via: '1.1 fulcrum' });
  });
  it('Content-Length kept unless dropped', () => {
    assert.deepEqual(http2ResponseHeaders(resp('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n'), false, []), { ':status': 204, 'content-length': '0' });
    assert.deepEqual(http2ResponseHeaders(resp('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'), true, []), { ':status': 200 });
  });
});

describe('ChunkedScanner with a data callback (HTTP/2 responses)', () => {
  const decodeAll = (input: Buffer, step: number): { data: string; end: number } => {
    const d = new ChunkedScanner(502, 1024);
    const parts: Buffer[] = [];
    let end = -1;
    for (let i = 0; i < input.length && end < 0; i += step) {
      const e = d.scan(input, i, Math.min(i + step, input.length), (p) => parts.push(Buffer.from(p)));
      if (e >= 0) end = e;
    }
    return { data: Buffer.concat(parts).toString(), end };
  };

  it('yields the data without framing, in pieces of any size, and where the body ends', () => {
    const body = Buffer.from('5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT');
    for (const step of [1, 2, 3, 7, 64]) assert.deepEqual(decodeAll(body, step), { data: 'hello, world', end: body.length - 4 }, `step ${step}`);
  });

  it('accepts and refuses exactly what it does without the callback (HTTP/1.1)', () => {
    const cases = [
      '0\r\n\r\n',
      '1\r\na\r\n0\r\n\r\n',
      'A\r\n0123456789\r\n0\r\n\r\n',
      '1 ;x\r\na\r\n0\r\n\r\n',
      'g\r\n',
      '1\r\nab\r\n',
      '1\na\r\n0\r\n\r\n',
      '0\r\nbad trailer\r\n\r\n',
      '0\r\n x\r\n\r\n',
      'fffffffffffffff\r\n',
      '1\r\na\r\n0\r\nT: 1\r\r\n',
    ];
    for (const c of cases) {
      const buf = Buffer.from(c);
      let scanned: string;
      try {
        scanned = String(new ChunkedScanner(502, 1024).scan(buf, 0, buf.length));
      } catch (e) {
        scanned = `error ${(e as HttpParseError).reason}`;
      }
      let decoded: string;
      try {
        decoded = String(new ChunkedScanner(502, 1024).scan(buf, 0, buf.length, () => {}));
      } catch (e) {
        decoded = `error ${(e as HttpParseError).reason}`;
      }
      assert.equal(decoded, scanned, JSON.stringify(c));
    }
  });
});

describe('httpsUrl', () => {
  it('host without its port, the HTTPS port unless 443, path and query kept', () => {
    assert.equal(httpsUrl('WWW.example.com:80', '/a?b=1', 443), 'https://www.example.com/a?b=1');
    assert.equal(httpsUrl('www.example.com', '/', 8443), 'https://www.example.com:8443/');
    assert.equal(httpsUrl('[2001:db8::1]:80', '/x', 443), 'https://[2001:db8::1]/x');
    assert.equal(httpsUrl('h', 'http://h/p?q', 443), 'https://h/p?q');
    assert.equal(httpsUrl('h', '*', 443), 'https://h/');
  });
});

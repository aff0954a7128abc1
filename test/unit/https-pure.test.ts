/**
 * The pure parts of HTTPS and HTTP/2 at the edge: the SNI table, certificate names, the
 * HTTP/2 <-> HTTP/1.1 header translation, the chunked decoder (checked against the
 * HTTP/1.1 engine's scanner on the same inputs) and HTTPS redirect URLs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';
import { HttpParseError, parseRequestHead, parseResponseHead } from '../../src/proxy/http/head.js';
import { httpsUrl } from '../../src/proxy/http/https-redirect.js';
import { http1RequestHead, http2ResponseHeaders } from '../../src/proxy/http2/headers.js';
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

describe('http1RequestHead', () => {
  const raw = (...pairs: Array<[string, string]>) => pairs.flat();

  it('request line and Host from the pseudo-header fields; cookie crumbs joined; host dropped for :authority', () => {
    const head = http1RequestHead(
      raw([':method', 'POST'], [':scheme', 'https'], [':authority', 'www.example.com'], [':path', '/a?b'], ['cookie', 'a=1'], ['x-a', '1'], ['cookie', 'b=2'], ['host', 'other'], ['te', 'trailers']),
    );
    assert.equal(head, 'POST /a?b HTTP/1.1\r\nHost: www.example.com\r\nx-a: 1\r\nte: trailers\r\ncookie: a=1; b=2\r\n\r\n');
    const req = parseRequestHead(head as string, { urlBytes: 8192, headerCount: 100 });
    assert.equal(req.host, 'www.example.com');
  });
  it('Host when there is no :authority', () => {
    assert.equal(http1RequestHead(raw([':method', 'GET'], [':path', '/'], ['host', 'h.example'])), 'GET / HTTP/1.1\r\nHost: h.example\r\n\r\n');
  });
  it('refuses CONNECT, extended CONNECT, missing fields and connection-specific fields', () => {
    assert.deepEqual(http1RequestHead(raw([':method', 'CONNECT'], [':authority', 'h:443'])), { status: 501, reason: 'CONNECT is not supported' });
    assert.equal((http1RequestHead(raw([':method', 'CONNECT'], [':protocol', 'websocket'], [':path', '/'], [':authority', 'h'])) as { status: number }).status, 501);
    assert.equal((http1RequestHead(raw([':method', 'GET'], [':authority', 'h'])) as { status: number }).status, 400);
    assert.equal((http1RequestHead(raw([':method', 'GET'], [':path', '/'])) as { status: number }).status, 400);
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) {
      assert.equal((http1RequestHead(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], [name, 'x'])) as { status: number }).status, 400, name);
    }
    assert.equal((http1RequestHead(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['te', 'gzip'])) as { status: number }).status, 400);
  });
  it('what HTTP/1.1 forbids is then refused by the strict parser (no smuggling through HTTP/2)', () => {
    const parse = (head: string) => {
      try {
        parseRequestHead(head, { urlBytes: 8192, headerCount: 100 });
        return 'ok';
      } catch (e) {
        return (e as HttpParseError).status;
      }
    };
    assert.equal(parse(http1RequestHead(raw([':method', 'GET'], [':path', '/a b'], [':authority', 'h'])) as string), 400);
    assert.equal(parse(http1RequestHead(raw([':method', 'GET'], [':path', '/'], [':authority', 'h/x'])) as string), 400);
    assert.equal(parse(http1RequestHead(raw([':method', 'GET'], [':path', '/'], [':authority', 'h'], ['x', 'a\u0001b'])) as string), 400);
    assert.equal(parse(http1RequestHead(raw([':method', 'G(T'], [':path', '/'], [':authority', 'h'])) as string), 400);
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

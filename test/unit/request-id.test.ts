/** Request IDs: made, checked, and put in the request head by rewriteRequestHead. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestHead } from '../../src/proxy/http/head.js';
import { newRequestId, RequestIds, wellFormedId } from '../../src/proxy/http/request-id.js';
import { rewriteRequestHead, type ClientFacts } from '../../src/proxy/http/rewrite.js';

const ids = new RequestIds({ header: 'X-Request-ID', generate: true, response: true });
const head = (raw: string) => parseRequestHead(raw, { urlBytes: 8192, headerCount: 100 });
const facts = (trusted: boolean): ClientFacts => ({ ip: '192.0.2.7', forwardedFor: '192.0.2.7', trusted, proto: 'http' });

describe('request IDs', () => {
  it('are 24 hex digits, each one new', () => {
    const a = newRequestId();
    const b = newRequestId();
    assert.match(a, /^[0-9a-f]{24}$/);
    assert.notEqual(a, b);
    assert.equal(a.slice(0, 14), b.slice(0, 14));
  });

  it('keep a client\'s ID only when well-formed and the client trusted', () => {
    assert.ok(wellFormedId('0af7651916cd43dd8448eb211c80319c'));
    for (const bad of ['', 'a b', 'x'.repeat(129), 'caf\u00e9', 'tab\t']) assert.ok(!wellFormedId(bad), JSON.stringify(bad));
    const req = head('GET / HTTP/1.1\r\nHost: h\r\nx-request-id: abc\r\n\r\n');
    assert.equal(ids.idFor(req, true), 'abc');
    assert.match(ids.idFor(req, false)!, /^[0-9a-f]{24}$/);
    const two = head('GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: a\r\nX-Request-Id: b\r\n\r\n');
    assert.match(ids.idFor(two, true)!, /^[0-9a-f]{24}$/, 'two IDs: neither is kept');
    assert.equal(new RequestIds({ header: 'X-Request-ID', generate: false, response: true }).idFor(req, false), null);
  });

  it('replace the client\'s field in the head sent upstream', () => {
    const req = head('GET / HTTP/1.1\r\nHost: h\r\nX-REQUEST-ID: theirs\r\nAccept: */*\r\n\r\n');
    const fwd = { headers: 'none' as const, trusted: [], via: false };
    assert.equal(rewriteRequestHead(req, facts(false), fwd, false, '1.1', '', ids, 'ours'), 'GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Request-ID: ours\r\n\r\n');
    assert.equal(rewriteRequestHead(req, facts(false), fwd, false, '1.1', '', ids, null), 'GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n');
    assert.equal(rewriteRequestHead(req, facts(false), fwd, false, '1.1', '', null, null), req.raw);
  });
});

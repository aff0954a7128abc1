import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestHead } from '../../src/proxy/http/head.js';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';
import { http1ResponseHead, http2RequestHeaders, lastChunk, trailersOf } from '../../src/proxy/http2/upstream-headers.js';
import { grpcMessage, grpcStatusOf, grpcTimeoutMs, isGrpcType } from '../../src/proxy/http2/grpc.js';
import { healthCheckRequest, servingStatus } from '../../src/health/probes/h2.js';

const LIMITS = { urlBytes: 8192, headerCount: 100 };
const req = (text: string) => parseRequestHead(text, LIMITS);

describe('HTTP/1.1 request heads as HTTP/2 fields (RFC 9113 section 8.2)', () => {
  it('moves Host to :authority and drops connection-specific fields and those Connection names', () => {
    const h = http2RequestHeaders(req('GET /a?b HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive, x-hop\r\nKeep-Alive: 5\r\nX-Hop: 1\r\nUpgrade: h2c\r\nTE: gzip\r\nX-Kept: 1\r\nX-Kept: 2\r\n\r\n'), 'http');
    assert.deepEqual({ ...h }, { ':method': 'GET', ':scheme': 'http', ':path': '/a?b', ':authority': 'www.example.com', 'x-kept': ['1', '2'] });
  });

  it('keeps TE only as "trailers", adds it for gRPC, and splits an absolute target', () => {
    assert.equal(http2RequestHeaders(req('GET / HTTP/1.1\r\nHost: h\r\nTE: trailers, gzip\r\n\r\n'), 'https').te, 'trailers');
    const g = http2RequestHeaders(req('POST http://svc.internal:8080/pkg.S/M HTTP/1.1\r\nHost: other\r\nContent-Type: application/grpc+proto\r\nContent-Length: 5\r\n\r\n'), 'http');
    assert.equal(g[':authority'], 'svc.internal:8080');
    assert.equal(g[':path'], '/pkg.S/M');
    assert.equal(g.te, 'trailers');
    assert.equal(g['content-length'], '5');
  });
});

describe('HTTP/2 responses as HTTP/1.1 heads, trailers both ways', () => {
  it('frames a body without a length as chunked, an ended one with length 0, keeps a given length', () => {
    assert.equal(http1ResponseHead({ ':status': 200, 'content-type': 'application/grpc' } as never, false, true), 'HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n');
    assert.equal(http1ResponseHead({ ':status': 200, 'grpc-status': '14' } as never, true, false), 'HTTP/1.1 200 OK\r\ngrpc-status: 14\r\ncontent-length: 0\r\n\r\n');
    assert.equal(http1ResponseHead({ ':status': 304, 'set-cookie': ['a=1', 'b=2'] } as never, true, false), 'HTTP/1.1 304 Not Modified\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n');
    assert.equal(http1ResponseHead({ ':status': 200, 'content-length': '3' } as never, false, false), 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n');
  });

  it('writes trailers in the last chunk, minus fields a trailer may not carry, and reads them back', () => {
    const text = lastChunk({ 'grpc-status': '0', 'grpc-message': 'ok', 'content-length': '9' } as never);
    assert.equal(text, '0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n');
    const scanner = new ChunkedScanner(502, 1024);
    const parts: Buffer[] = [];
    const body = Buffer.from(`3\r\nabc\r\n${text}`);
    assert.equal(scanner.scan(body, 0, body.length, (p) => parts.push(p)), body.length);
    assert.equal(Buffer.concat(parts).toString(), 'abc');
    assert.deepEqual({ ...trailersOf(scanner.trailerText) }, { 'grpc-status': '0', 'grpc-message': 'ok' });
    const blind = new ChunkedScanner(502, 1024);
    blind.scan(body, 0, body.length);
    assert.equal(blind.trailerText, '', 'no copy without a reader of the body (HTTP/1.1 clients)');
  });
});

describe('gRPC', () => {
  it('maps our statuses: timeouts DEADLINE_EXCEEDED, no server UNAVAILABLE', () => {
    assert.deepEqual([503, 502, 504, 408, 404, 403, 401, 429, 400, 500].map(grpcStatusOf), [14, 14, 4, 4, 12, 7, 16, 14, 13, 2]);
  });

  it('reads grpc-timeout, recognises content types, percent-encodes messages', () => {
    assert.deepEqual(['1S', '250m', '2M', '1H', '1500u', '7n', '123456789S', '1s', '', 'S'].map(grpcTimeoutMs), [1000, 250, 120_000, 3_600_000, 2, 1, -1, -1, -1, -1]);
    assert.deepEqual(['application/grpc', 'application/grpc+proto', 'application/grpc; x=y', 'application/grpc-web', 'text/plain'].map(isGrpcType), [true, true, true, false, false]);
    assert.equal(grpcMessage('no server: 100% busy é'), 'no server: 100%25 busy %C3%A9');
  });

  it('encodes Health/Check requests and reads their answers', () => {
    assert.deepEqual([...healthCheckRequest('')], [0, 0, 0, 0, 0]);
    assert.deepEqual([...healthCheckRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
    assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
    assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 2])), 2);
    assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 0])), 0);
    assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 9])), -1);
  });
});

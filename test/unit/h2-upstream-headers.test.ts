import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ForwardedConfig } from '../../src/config/types.js';
import { HttpParseError, parseRequestHead, responseHeadOf } from '../../src/proxy/http/head.js';
import { rewriteRequestFields } from '../../src/proxy/http/rewrite.js';
import { ChunkedScanner } from '../../src/proxy/http/chunked.js';
import { lastChunk, trailersOf } from '../../src/proxy/http2/upstream-headers.js';
import { grpcMessage, grpcStatusOf, grpcTimeoutMs, isGrpcType } from '../../src/proxy/http2/grpc.js';
import { healthCheckRequest, servingStatus } from '../../src/health/probes/h2.js';

const LIMITS = { urlBytes: 8192, headerCount: 100 };
const req = (text: string) => parseRequestHead(text, LIMITS);

const FACTS = { ip: '192.0.2.7', forwardedFor: '192.0.2.7', trusted: false, proto: 'http' };
const NONE = { headers: 'none' as const, trusted: [], via: false };
const fields = (text: string, scheme = 'http', fwd: ForwardedConfig = NONE, version = '1.1') => {
  const f = rewriteRequestFields(req(text), FACTS, fwd, version, false, scheme, null, null);
  return f.names.map((n, k) => `${n}: ${f.values[k]}`);
};

describe('requests as HTTP/2 fields (RFC 9113 section 8.2), by the same rewrite rules as HTTP/1.1 heads', () => {
  it('moves Host to :authority and drops connection-specific fields and those Connection names', () => {
    assert.deepEqual(fields('GET /a?b HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive, x-hop\r\nKeep-Alive: 5\r\nX-Hop: 1\r\nUpgrade: h2c\r\nTE: gzip\r\nX-Kept: 1\r\nX-Kept: 2\r\n\r\n'), [
      ':method: GET',
      ':scheme: http',
      ':authority: www.example.com',
      ':path: /a?b',
      'x-kept: 1',
      'x-kept: 2',
    ]);
  });

  it('TE (hop-by-hop) goes, and comes back as "trailers" for gRPC; an absolute target is split', () => {
    assert.deepEqual(fields('GET / HTTP/1.1\r\nHost: h\r\nTE: trailers, gzip\r\n\r\n', 'https'), [':method: GET', ':scheme: https', ':authority: h', ':path: /']);
    assert.deepEqual(fields('POST http://svc.internal:8080/pkg.S/M HTTP/1.1\r\nHost: other\r\nContent-Type: application/grpc+proto\r\nContent-Length: 5\r\n\r\n'), [
      ':method: POST',
      ':scheme: http',
      ':authority: svc.internal:8080',
      ':path: /pkg.S/M',
      'content-type: application/grpc+proto',
      'content-length: 5',
      'te: trailers',
    ]);
  });

  it('adds our fields in lower case: X-Forwarded-*, Forwarded, Via for the version the request came over', () => {
    const both = { headers: 'both' as const, trusted: [], via: true };
    assert.deepEqual(fields('GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n', 'http', both, '2').slice(4), [
      'x-forwarded-for: 192.0.2.7',
      'x-forwarded-proto: http',
      'x-forwarded-host: h',
      'forwarded: for=192.0.2.7;proto=http;host="h"',
      'via: 2 fulcrum',
    ]);
  });
});

describe('HTTP/2 response heads by the HTTP/1.1 parser\'s rules; trailers both ways', () => {
  it('reads Content-Length and chunked, and refuses what the parser refuses (502)', () => {
    const h = responseHeadOf(200, ['content-type', 'content-length'], ['text/plain', '3'], 100);
    assert.equal(h.contentLength, 3);
    assert.equal(h.raw, '');
    assert.equal(responseHeadOf(200, ['transfer-encoding'], ['chunked'], 100).chunked, true);
    const status = (names: string[], values: string[], count = 100) => {
      try {
        responseHeadOf(200, names, values, count);
        return 'ok';
      } catch (e) {
        return (e as HttpParseError).status;
      }
    };
    assert.equal(status(['content-length', 'content-length'], ['1', '2']), 502);
    assert.equal(status(['x'], ['a\u0001b']), 502);
    assert.equal(status(['x', 'y'], ['1', '2'], 1), 502);
    assert.equal(status(['x'], ['fine']), 'ok');
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

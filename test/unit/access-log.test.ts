/** Access log line formats: Common, Combined and JSON. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestHead } from '../../src/proxy/http/head.js';
import { clfTime, combinedLine, commonLine, compileTemplate, jsonLine, type HttpAccess } from '../../src/proxy/access-log.js';

const AT = Date.UTC(2026, 10, 27, 1, 2, 3);

function access(raw: string | null, status = 200, bytes = 123, version?: string): HttpAccess {
  const req = raw === null ? null : head(raw);
  return { client: '192.0.2.7', at: AT, req, version: version ?? `1.${req?.minor ?? 1}`, status, bytes, server: 'web/S1', requestId: 'abc123', connectMs: 2, responseMs: 7, attempts: 1 };
}

function head(raw: string) {
  return parseRequestHead(raw, { urlBytes: 8192, headerCount: 100 });
}

describe('access log formats', () => {
  it('writes CLF time in UTC', () => {
    assert.equal(clfTime(AT), '[27/Nov/2026:01:02:03 +0000]');
  });

  it('writes the Common Log Format', () => {
    assert.equal(commonLine(access('GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n')), '192.0.2.7 - - [27/Nov/2026:01:02:03 +0000] "GET /a?b=1 HTTP/1.1" 200 123');
    assert.equal(commonLine(access(null, 400, 0)), '192.0.2.7 - - [27/Nov/2026:01:02:03 +0000] "-" 400 -');
  });

  it('writes the Combined Log Format with escaped quotes', () => {
    const line = combinedLine(access('GET / HTTP/1.0\r\nReferer: http://r/\r\nUser-Agent: say "hi" \\o/\r\n\r\n'));
    assert.equal(line, '192.0.2.7 - - [27/Nov/2026:01:02:03 +0000] "GET / HTTP/1.0" 200 123 "http://r/" "say \\"hi\\" \\\\o/"');
    assert.match(combinedLine(access('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /200 123 "-" "-"$/);
  });

  it('shows HTTP/2 requests as HTTP/2.0 in CLF and "2" in JSON', () => {
    const a = access('GET /h2 HTTP/1.1\r\nHost: x\r\n\r\n', 200, 5, '2');
    assert.match(commonLine(a), /"GET \/h2 HTTP\/2\.0" 200 5$/);
    assert.equal((JSON.parse(jsonLine('www', a, AT)) as { version: string }).version, '2');
  });

  it('writes JSON', () => {
    const j = JSON.parse(jsonLine('www', access('POST /p HTTP/1.1\r\nHost: ex.test\r\nContent-Length: 0\r\n\r\n'), AT + 5)) as Record<string, unknown>;
    assert.deepEqual(j, {
      time: '2026-11-27T01:02:03.000Z',
      listener: 'www',
      client: '192.0.2.7',
      method: 'POST',
      target: '/p',
      version: '1.1',
      host: 'ex.test',
      status: 200,
      bytes: 123,
      duration_ms: 5,
      server: 'web/S1',
      referer: null,
      user_agent: null,
      request_id: 'abc123',
      upstream_connect_ms: 2,
      upstream_response_ms: 7,
      attempts: 1,
    });
  });

  it('writes a custom template, absent values as -, client text escaped', () => {
    const line = compileTemplate('$remote_addr [$time_local] $time_iso8601 $msec "$request" $method $target $version $host $status $bytes_sent $request_time $server $upstream_connect_time $upstream_response_time $upstream_attempts $request_id $listener "$http_user_agent" $http_x_none $$');
    const a = access('GET /q?"x" HTTP/1.1\r\nHost: ex.test\r\nUser-Agent: say "hi"\r\n\r\n');
    assert.equal(
      line('www', a, AT + 1234),
      '192.0.2.7 [27/Nov/2026:01:02:03 +0000] 2026-11-27T01:02:03.000Z 1795741323.000 "GET /q?\\"x\\" HTTP/1.1" GET /q?\\"x\\" 1.1 ex.test 200 123 1.234 web/S1 0.002 0.007 1 abc123 www "say \\"hi\\"" - $',
    );
    const none = { ...access(null, 400, 0), server: null, requestId: null, connectMs: -1, responseMs: -1, attempts: 0 };
    assert.equal(line('www', none, AT), '192.0.2.7 [27/Nov/2026:01:02:03 +0000] 2026-11-27T01:02:03.000Z 1795741323.000 "-" - - - - 400 0 0.000 - - - 0 - www "-" - $');
  });
});

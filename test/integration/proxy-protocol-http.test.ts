import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpBackend, rawBackend } from '../helpers/backends.js';
import { rawExchange, rawReply } from '../helpers/http-client.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';

/** An HTTP backend answering with the X-Forwarded-For it received. */
function xffBackend() {
  return httpBackend((req, res) => res.end(`${req.headers['x-forwarded-for']}\n`));
}

/** Sends raw bytes and resolves with everything received until the peer closes (bounded). */
async function sendRaw(port: number, bytes: string | Buffer): Promise<string> {
  const r = await rawReply(port, bytes, 3000);
  if (r.timedOut) throw new Error(`no close within 3 s; got ${JSON.stringify(r.text)}`);
  return r.text;
}

test('HTTP listener accepting PROXY v1/v2 from a trusted balancer: the header names the client', async (t) => {
  const s1 = await xffBackend();
  const p = await startProxy(simpleYaml([s1.port], { listener: '    proxy_protocol: {trusted: [127.0.0.1]}' }));
  t.after(() => Promise.all([p.stop(), s1.close()]));

  const v1 = await rawExchange(p.port, 'PROXY TCP4 192.0.2.7 192.0.2.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(v1.status, 200);
  assert.equal(v1.body.toString(), '192.0.2.7\n');

  const { encodeV2 } = await import('../../src/proxy/proxy-protocol.js');
  const v2 = Buffer.concat([
    encodeV2({ address: '2001:db8::7', port: 4444 }, { address: '2001:db8::1', port: 80 }),
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
  ]);
  const r2 = await rawExchange(p.port, v2);
  assert.equal(r2.body.toString(), '2001:db8::7\n');

  // Plain HTTP where a PROXY header is required, or a malformed one: closed, nothing forwarded.
  assert.equal(await sendRaw(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'), '');
  assert.equal(await sendRaw(p.port, 'PROXY TCP4 192.0.2.7  192.0.2.1 5555 80\r\n'), '');
});

test('HTTP listener with proxy_protocol refuses sources outside `trusted`', async (t) => {
  const s1 = await xffBackend();
  const p = await startProxy(simpleYaml([s1.port], { listener: '    proxy_protocol: {trusted: [192.0.2.0/24]}' }));
  t.after(() => Promise.all([p.stop(), s1.close()]));
  assert.equal(await sendRaw(p.port, 'PROXY TCP4 192.0.2.7 192.0.2.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'), '');
});

test('HTTP pool with send_proxy: each upstream connection starts with a PROXY header and is never shared', async (t) => {
  const seen: string[] = [];
  const backend = await rawBackend((sock) => {
    let buf = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      seen.push(buf.slice(0, buf.indexOf('\r\n')));
      buf = '';
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  const yaml = simpleYaml([backend.port]).replace('pools:\n  web:\n', 'pools:\n  web:\n    send_proxy: v1\n');
  const p = await startProxy(yaml);
  t.after(() => Promise.all([p.stop(), backend.close()]));
  for (let i = 0; i < 2; i++) {
    const r = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200);
  }
  assert.equal(seen.length, 2);
  for (const first of seen) assert.match(first, /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+$/);
});

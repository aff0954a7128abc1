import assert from 'node:assert/strict';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { encodeV1, encodeV2, parseProxyHeader, type ProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { rawBackend, type Backend, nameServer } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';
import { ended, rawConnect, readAll } from '../helpers/http-client.js';
import { forEachRelay, tcpProxy, tcpYaml } from '../helpers/proxies.js';

interface ProxyAwareBackend extends Backend<net.Server> {
  headers: Array<ProxyHeader & { raw: Buffer }>;
}

/**
 * A backend that expects a PROXY header first: it records the header, answers
 * "SRC:SPORT>DST:DPORT|" followed by an echo of the payload, and ends when the client ends.
 */
async function proxyAwareBackend(t: TestContext): Promise<ProxyAwareBackend> {
  const headers: ProxyAwareBackend['headers'] = [];
  const b = await rawBackend((sock) => {
    let buf = Buffer.alloc(0);
    let parsed = false;
    sock.on('data', (d: Buffer) => {
      if (parsed) {
        sock.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const r = parseProxyHeader(buf);
      if (r.error !== null) {
        sock.end(`ERROR ${r.error}`);
        return;
      }
      if (!r.done) return;
      parsed = true;
      headers.push({ ...r, raw: buf.subarray(0, r.consumed) });
      const s = r.source;
      const dst = r.destination;
      sock.write(`${s?.address}:${s?.port}>${dst?.address}:${dst?.port}|`);
      if (buf.length > r.consumed) sock.write(buf.subarray(r.consumed));
    });
    sock.on('end', () => sock.end());
  });
  t.after(() => b.close());
  return Object.assign(b, { headers });
}

forEachRelay((relay) => {
  for (const version of ['v1', 'v2'] as const) {
    test(`send_proxy ${version}: the server gets the client's address before the first byte`, async (t) => {
      const backend = await proxyAwareBackend(t);
      const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port], lines: [`    send_proxy: ${version}`] } }));
      const c = await rawConnect(p.port, { t, localAddress: '127.0.0.3' });
      const localPort = c.sock.localPort!;
      c.sock.write('payload');
      const expected = `127.0.0.3:${localPort}>127.0.0.1:${p.port}|payload`;
      assert.equal((await c.reader.readBytes(expected.length)).toString(), expected);
      c.sock.end();
      await readAll(c);
      assert.equal(backend.headers.length, 1);
      assert.equal(backend.headers[0]!.version, version === 'v1' ? 1 : 2);
      assert.equal(backend.headers[0]!.family, 'tcp4');
      const src = { address: '127.0.0.3', port: localPort };
      const dst = { address: '127.0.0.1', port: p.port };
      assert.deepEqual(backend.headers[0]!.raw, version === 'v1' ? encodeV1(src, dst) : encodeV2(src, dst));
    });
  }

  test('the listener runs on this relay', async (t) => {
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [(await nameServer(t, 'S1')).port] } }, { listener: ['    proxy_protocol: { trusted: [127.0.0.1/32] }'] }));
    assert.equal(p.frontend.relay, relay);
  });

  test('proxy_protocol from a trusted balancer: the header is consumed and its source is the client', async (t) => {
    const backend = await proxyAwareBackend(t);
    const p = await tcpProxy(
      t,
      tcpYaml({ web: { servers: [backend.port], lines: ['    send_proxy: v2'] } }, { listener: ['    proxy_protocol: { trusted: [127.0.0.0/8] }'] }),
    );
    // v1 then payload in one write; v2 header split over writes.
    const a = await rawConnect(p.port, { t });
    a.sock.write(Buffer.concat([encodeV1({ address: '203.0.113.7', port: 4444 }, { address: '198.51.100.1', port: 443 }), Buffer.from('hello')]));
    const wantA = '203.0.113.7:4444>198.51.100.1:443|hello';
    assert.equal((await a.reader.readBytes(wantA.length)).toString(), wantA);
    const b = await rawConnect(p.port, { t });
    const h = encodeV2({ address: '2001:db8::7', port: 5555 }, { address: '2001:db8::1', port: 443 });
    b.sock.write(h.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 50));
    b.sock.write(h.subarray(5, 30));
    await new Promise((r) => setTimeout(r, 50));
    b.sock.write(Buffer.concat([h.subarray(30), Buffer.from('v2!')]));
    const wantB = '2001:db8::7:5555>2001:db8::1:443|v2!';
    assert.equal((await b.reader.readBytes(wantB.length)).toString(), wantB);
    // LOCAL (a health check from the balancer): the socket's own addresses are used
    const l = await rawConnect(p.port, { t, localAddress: '127.0.0.9' });
    l.sock.write(Buffer.concat([encodeV2(null, null), Buffer.from('local')]));
    const wantL = `127.0.0.9:${l.sock.localPort}>127.0.0.1:${p.port}|local`;
    assert.equal((await l.reader.readBytes(wantL.length)).toString(), wantL);
  });

  test('proxy_protocol: connections from untrusted sources are closed before any server is contacted', async (t) => {
    const backend = await proxyAwareBackend(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }, { listener: ['    proxy_protocol: { trusted: [192.0.2.0/24] }'] }));
    const c = await rawConnect(p.port, { t });
    c.sock.write(encodeV1({ address: '203.0.113.7', port: 1 }, { address: '192.0.2.1', port: 2 }));
    assert.equal(await readAll(c), '');
    assert.equal(backend.connections, 0);
  });

  test('proxy_protocol: malformed, truncated and late headers close the connection', async (t) => {
    const backend = await proxyAwareBackend(t);
    const p = await tcpProxy(
      t,
      // hello_timeout bounds the wait for the PROXY header too; the configuration accepts it
      // only with an SNI route, hence the first route.
      tcpYaml(
        { web: { servers: [backend.port] } },
        { routes: ['{ host: a.example.com, pool: web }', '{ pool: web }'], listener: ['    proxy_protocol: { trusted: [127.0.0.1] }', '    tcp: { hello_timeout: 300ms }'] },
      ),
    );
    const cases: Array<[string, Buffer | null, boolean]> = [
      ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false],
      ['bad v1 port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), false],
      ['v2 version 1', Buffer.concat([encodeV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 })]).fill(0x11, 12, 13), false],
      ['truncated v2, then EOF', encodeV2({ address: '1.2.3.4', port: 1 }, { address: '5.6.7.8', port: 2 }).subarray(0, 20), true],
      ['nothing within hello_timeout', null, false],
    ];
    for (const [what, bytes, endAfter] of cases) {
      const c = await rawConnect(p.port, { t });
      const t0 = Date.now();
      if (bytes !== null) c.sock.write(bytes);
      if (endAfter) c.sock.end();
      await ended(c, 3000).catch(() => assert.fail(`${what}: not closed`));
      assert.equal(c.reader.buffered, 0, what);
      if (bytes === null) assert.ok(Date.now() - t0 >= 250, `${what}: closed after ${Date.now() - t0} ms`);
    }
    assert.equal(backend.connections, 0);
    await waitFor(() => p.frontend.connections.size === 0, 2000, 'every connection forgotten');
  });

  test('maglev behind a trusted balancer hashes the PROXY source, not the balancer', async (t) => {
    const names = ['A', 'B', 'C'];
    const servers = await Promise.all(names.map((n) => nameServer(t, n)));
    const p = await tcpProxy(
      t,
      tcpYaml({ web: { balance: 'maglev', servers: servers.map((s, i) => ({ port: s.port, name: names[i] })) } }, { listener: ['    proxy_protocol: { trusted: [127.0.0.1] }'] }),
    );
    const chosen = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      for (let i = 1; i <= 24; i++) {
        const src = `203.0.113.${i}`;
        const c = await rawConnect(p.port, { t });
        c.sock.write(encodeV1({ address: src, port: 1000 + round }, { address: '192.0.2.1', port: 443 }));
        const got = await readAll(c);
        if (round === 0) chosen.set(src, got);
        else assert.equal(got, chosen.get(src), `${src} moved`);
      }
    }
    assert.ok(new Set(chosen.values()).size >= 2, 'the PROXY sources spread over the servers although every connection came from 127.0.0.1');
  });
});

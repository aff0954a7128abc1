import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { waitFor, WAIT_MS } from '../helpers/wait.js';
import { serve, type Backend } from '../helpers/backends.js';
import { NO_OPENSSL, OPENSSL, TestPki, type CertFiles } from '../helpers/certs.js';
import { ended, rawConnect } from '../helpers/http-client.js';
import { killChild } from '../helpers/spawn.js';
import { forEachRelay, tcpProxy, tcpYaml } from '../helpers/proxies.js';
import { LOOPBACK } from '../helpers/ports.js';

const skip = NO_OPENSSL;

/** A TLS server (test certificate) that answers "NAME sni=SERVERNAME" and closes; `handshakes` counts completed ones. */
async function tlsBackend(t: TestContext, name: string, cert: CertFiles): Promise<Backend<tls.Server> & { handshakes: number }> {
  const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem }, (sock) => {
    b.handshakes++;
    const sni = (sock as tls.TLSSocket & { servername?: string | false }).servername;
    sock.end(`${name} sni=${sni || '-'}`);
    sock.on('error', () => {});
  });
  server.on('tlsClientError', () => {});
  const b = Object.assign(await serve(server), { handshakes: 0 });
  t.after(() => b.close());
  return b;
}

/** A TLS client with `servername` (none when null) through the proxy; resolves to what the server said. */
function tlsGet(port: number, servername: string | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const opts: tls.ConnectionOptions = { port, host: LOOPBACK, rejectUnauthorized: false };
    opts.servername = servername ?? '';
    const sock = tls.connect(opts);
    let got = '';
    let secure = false;
    sock.once('secureConnect', () => (secure = true));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer for ${servername} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    sock.on('end', () => {
      clearTimeout(timer);
      if (secure) resolve(got);
      else reject(new Error('closed before the TLS handshake'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function sniSetup(t: TestContext, withDefault = true) {
  const cert = new TestPki(t).leaf(['example.com', '*.example.com', 'a.example.com']);
  const exact = await tlsBackend(t, 'exact', cert);
  const wild = await tlsBackend(t, 'wild', cert);
  const dflt = await tlsBackend(t, 'default', cert);
  const routes = ['{ host: a.example.com, pool: exact }', '{ host: "*.example.com", pool: wild }'];
  if (withDefault) routes.push('{ pool: fallback }');
  const p = await tcpProxy(
    t,
    tcpYaml({ exact: { servers: [exact.port] }, wild: { servers: [wild.port] }, fallback: { servers: [dflt.port] } }, { routes, listener: ['    tcp: { hello_timeout: 400ms }'] }),
  );
  return { p, exact, wild, dflt };
}

forEachRelay((relay) => {
  test('the listener runs on this relay', { skip }, async (t) => {
    const { p } = await sniSetup(t);
    assert.equal(p.frontend.relay, relay);
  });

  test('TLS passthrough routed by SNI: exact, wildcard and default routes', { skip }, async (t) => {
    const { p } = await sniSetup(t);
    assert.equal(await tlsGet(p.port, 'a.example.com'), 'exact sni=a.example.com');
    assert.equal(await tlsGet(p.port, 'www.example.com'), 'wild sni=www.example.com');
    assert.equal(await tlsGet(p.port, 'WWW.EXAMPLE.COM'), 'wild sni=WWW.EXAMPLE.COM'); // routed case-insensitively, passed on as sent
    assert.equal(await tlsGet(p.port, 'deep.sub.example.com'), 'wild sni=deep.sub.example.com');
    // the wildcard does not cover the apex; no SNI and other names take the default route
    assert.equal(await tlsGet(p.port, 'example.com'), 'default sni=example.com');
    assert.equal(await tlsGet(p.port, 'other.test'), 'default sni=other.test');
    assert.equal(await tlsGet(p.port, null), 'default sni=-');
  });

  test('openssl s_client through the SNI router', { skip }, async (t) => {
    const { p } = await sniSetup(t);
    const child = spawn(OPENSSL!, ['s_client', '-connect', `${LOOPBACK}:${p.port}`, '-servername', 'a.example.com', '-quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => killChild(child));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('exact sni=a.example.com'), WAIT_MS, () => `openssl s_client output: ${JSON.stringify(out)}`);
    child.stdin!.end();
  });

  test('no SNI match and no default route: the connection is closed', { skip }, async (t) => {
    const { p, exact } = await sniSetup(t, false);
    await assert.rejects(tlsGet(p.port, 'other.test'), /before the TLS handshake|socket disconnected|ECONNRESET|EPIPE/);
    assert.equal(await tlsGet(p.port, 'a.example.com'), 'exact sni=a.example.com');
    assert.equal(exact.handshakes, 1);
  });

  test('a malformed ClientHello is closed cleanly, before any server is contacted', { skip }, async (t) => {
    const { p, exact, wild, dflt } = await sniSetup(t);
    const bad: Array<[string, Buffer, boolean]> = [
      // record says 60 bytes of handshake; the handshake says ServerHello
      ['ServerHello from a client', Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]), false],
      ['record version 9', Buffer.from([0x16, 9, 1, 0, 4, 1, 0, 0, 0]), false],
      ['ClientHello of 4 bytes', Buffer.from([0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0]), false],
      ['truncated, then EOF', Buffer.from([0x16, 3, 1, 0, 100, 1, 0, 0, 96, 3, 3]), true],
      ['nothing within hello_timeout', Buffer.alloc(0), false],
    ];
    for (const [what, bytes, endAfter] of bad) {
      const c = await rawConnect(p.port, { t });
      if (bytes.length > 0) c.sock.write(bytes);
      if (endAfter) c.sock.end();
      await ended(c, 3000).catch(() => assert.fail(`${what}: not closed`));
      assert.equal(c.reader.buffered, 0, `${what}: nothing comes back`);
    }
    assert.deepEqual([exact.handshakes, wild.handshakes, dflt.handshakes], [0, 0, 0]);
    await waitFor(() => p.frontend.connections.size === 0, 2000, 'every connection forgotten');
    // and the listener is fine afterwards
    assert.equal(await tlsGet(p.port, 'a.example.com'), 'exact sni=a.example.com');
  });

  test('not TLS at all: routed as "no SNI" (the default route)', { skip }, async (t) => {
    const { p, exact, wild, dflt } = await sniSetup(t);
    // The default backend speaks TLS and drops a plain-text client: the point is which
    // server the connection reached.
    const c = await rawConnect(p.port, { t });
    c.sock.write('GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    await ended(c, 3000);
    assert.deepEqual([exact.connections, wild.connections, dflt.connections], [0, 0, 1]);
  });
});

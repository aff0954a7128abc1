/**
 * TLS to the servers of a pool (re-encryption), against node:https servers with
 * certificates from a test CA: SNI, verification against a CA bundle (on by default,
 * failures retried elsewhere and answered 503), verify off, a client certificate, session
 * resumption, and HTTP/2 clients reaching the same TLS pool.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { test, type TestContext } from 'node:test';
import type tls from 'node:tls';
import { NO_OPENSSL, TestPki, type CertFiles } from '../helpers/certs.js';
import { h2Request, h2Session, httpsRequest } from '../helpers/http-client.js';
import { httpsYaml, proxyFor } from '../helpers/proxies.js';
import type { Echo } from '../helpers/backends.js';
import { serve } from '../helpers/backends.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

const skip = NO_OPENSSL;

interface TlsBackend {
  port: number;
  /** Server names the handshakes asked for. */
  names: string[];
  /** TLS connections accepted, and how many resumed a session. */
  connections: number;
  resumed: number;
  /** Common names of client certificates seen. */
  clients: string[];
}

/** An HTTPS server answering with the JSON of the request (like echoBackend), counting handshakes. */
async function tlsBackend(t: TestContext, name: string, cert: CertFiles, opts: { ca?: CertFiles; requireClientCert?: boolean } = {}): Promise<TlsBackend> {
  const b: TlsBackend = { port: 0, names: [], connections: 0, resumed: 0, clients: [] };
  const server = https.createServer(
    {
      cert: cert.certPem,
      key: cert.keyPem,
      ...(opts.requireClientCert ? { ca: opts.ca!.certPem, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        const echo: Partial<Echo> = { name, method: req.method!, url: req.url!, headers: req.headers };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(echo));
      });
    },
  );
  server.keepAliveTimeout = 30_000;
  server.on('secureConnection', (sock: tls.TLSSocket) => {
    b.connections++;
    if (sock.isSessionReused()) b.resumed++;
    b.names.push(String((sock as tls.TLSSocket & { servername?: string | false }).servername || '-'));
    const peer = sock.getPeerCertificate();
    if (peer !== null && typeof peer.subject?.CN === 'string') b.clients.push(peer.subject.CN);
  });
  server.on('tlsClientError', () => {});
  b.port = (await serve(server, { t })).port;
  return b;
}

test('TLS to servers: SNI, verification against the pool\'s CA, keep-alive, HTTP/2 clients too', { skip }, async (t) => {
  const pki = new TestPki(t);
  const ca = pki.ca('Fulcrum Test CA');
  const edge = pki.leaf(['www.example.com']);
  const be = await tlsBackend(t, 'B1', pki.leaf(['backend.internal'], { ca }));
  const proxy = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [`tls: { sni: backend.internal, ca: "${ca.cert}" }`] }));
  for (let i = 0; i < 3; i++) {
    const r = await httpsRequest(proxy.port, { path: `/k${i}` });
    assert.equal(r.status, 200, r.body);
    const e = JSON.parse(r.body) as Echo;
    assert.equal(e.url, `/k${i}`);
    assert.equal(e.headers['x-forwarded-proto'], 'https');
  }
  assert.deepEqual(be.names, ['backend.internal']);
  assert.equal(be.connections, 1, 'one upstream connection, kept alive');
  const session = await h2Session(t, proxy.port);
  const r = await h2Request(session, { ':path': '/h2' });
  assert.equal(r.status, 200);
  assert.equal((JSON.parse(r.body.toString()) as Echo).headers.via, '2 fulcrum');
});

test('verification failures: unknown CA, wrong name: 503 after trying; verify: false accepts', { skip }, async (t) => {
  const errors = recordUpstreamErrors(t);
  const pki = new TestPki(t);
  const ca = pki.ca('Fulcrum Test CA');
  const edge = pki.leaf(['www.example.com']);
  const be = await tlsBackend(t, 'B1', pki.leaf(['backend.internal'], { ca }));

  const noCa = await proxyFor(t, httpsYaml([edge], [be.port], { pool: ['tls: { sni: backend.internal }'] }));
  const r1 = await httpsRequest(noCa.port);
  assert.equal(r1.status, 503);
  assert.match(errors.last(503), /could not connect to server web\/S1 \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)/);
  assert.equal(r1.body, upstreamErrorBody(503), 'the body names no server, pool or address');

  const wrongName = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [`tls: { sni: other.internal, ca: "${ca.cert}" }`] }));
  const r2 = await httpsRequest(wrongName.port);
  assert.equal(r2.status, 503);
  assert.match(errors.last(503), /ERR_TLS_CERT_ALTNAME_INVALID/);

  const off = await proxyFor(t, httpsYaml([edge], [be.port], { pool: ['tls: { verify: false }'] }));
  assert.equal((await httpsRequest(off.port)).status, 200);
  assert.ok(be.names.includes('-'), 'a server given by IP address gets no SNI by default');
});

test('a client certificate for servers that require one; without it the request fails', { skip }, async (t) => {
  const pki = new TestPki(t);
  const ca = pki.ca('Fulcrum Test CA');
  const edge = pki.leaf(['www.example.com']);
  const client = pki.leaf(['fulcrum.client'], { ca });
  const be = await tlsBackend(t, 'B1', pki.leaf(['backend.internal'], { ca }), { ca, requireClientCert: true });
  const withCert = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [`tls: { sni: backend.internal, ca: "${ca.cert}", cert: "${client.cert}", key: "${client.key}" }`] }));
  assert.equal((await httpsRequest(withCert.port)).status, 200);
  assert.deepEqual(be.clients, ['fulcrum.client']);

  const without = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [`tls: { sni: backend.internal, ca: "${ca.cert}" }`] }));
  const r = await httpsRequest(without.port);
  assert.ok(r.status === 502 || r.status === 503, `status ${r.status}: ${r.body}`);
});

test('upstream sessions are resumed on new connections', { skip }, async (t) => {
  const pki = new TestPki(t);
  const ca = pki.ca('Fulcrum Test CA');
  const edge = pki.leaf(['www.example.com']);
  const be = await tlsBackend(t, 'B1', pki.leaf(['backend.internal', '127.0.0.1'], { ca }));
  // no idle connections kept: every request opens a new one; the server's address is verified (IP SAN)
  const proxy = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [`tls: { ca: "${ca.cert}" }`, 'keepalive: { max_idle: 0 }'] }));
  for (let i = 0; i < 4; i++) assert.equal((await httpsRequest(proxy.port)).status, 200);
  assert.equal(be.connections, 4);
  assert.ok(be.resumed >= 2, `resumed ${be.resumed} of 4`);
});

test('type http health checks of a pool with tls go over TLS with its settings (health.tls: false sends them plain)', { skip }, async (t) => {
  const pki = new TestPki(t);
  const ca = pki.ca('Fulcrum Test CA');
  const edge = pki.leaf(['www.example.com']);
  const be = await tlsBackend(t, 'B1', pki.leaf(['backend.internal'], { ca }));
  const health = (more: string) => `health: { type: http, interval: 200ms, timeout: 200ms, rise: 1, fall: 1, initial: down, jitter: 0, http: { path: /health }${more} }`;
  const tlsLine = `tls: { sni: backend.internal, ca: "${ca.cert}" }`;
  const server = (p: { instance: { pools: ReadonlyMap<string, { servers: ReadonlyArray<{ healthy: boolean }> }> } }) => p.instance.pools.get('web')!.servers[0]!;

  const secure = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [tlsLine, health('')] }));
  await waitFor(() => server(secure).healthy, 5000, 'the server comes up by checks over TLS');
  assert.ok(be.names.includes('backend.internal'), 'the checks send the pool\'s SNI');
  assert.equal((await httpsRequest(secure.port, { path: '/after' })).status, 200);

  const plain = await proxyFor(t, httpsYaml([edge], [be.port], { pool: [tlsLine, health(', tls: false')] }));
  await sleep(600);
  assert.equal(server(plain).healthy, false, 'plain HTTP to a TLS port never passes');
});

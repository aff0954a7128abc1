/**
 * HTTPS with several workers and reloads (real processes): a TLS session ticket issued by
 * one worker resumes on every other, also after a reload (the primary hands the same
 * ticket keys to every generation); an HTTP/2 connection open across a reload gets a
 * GOAWAY, finishes its request, and new connections reach the new generation.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { runCli, spawnCli } from '../helpers/spawn.js';
import { echoBackend } from '../helpers/backends.js';
import { h2Request, h2Session, handshake } from '../helpers/http-client.js';

const skip = NO_OPENSSL;

test('session tickets resume on every worker and across a reload; HTTP/2 gets GOAWAY on reload', { skip, timeout: 60_000 }, async (t) => {
  const pki = new TestPki(t);
  const leaf = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const socket = pki.path('control.sock');
  const file = pki.path('lb.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: www',
      '    bind: 127.0.0.1:0',
      `    tls: { certificates: [{ cert: ${leaf.cert}, key: ${leaf.key} }], min_version: TLSv1.2 }`,
      '    routes: [{ pool: web }]',
      'pools:',
      '  web:',
      `    servers: [{ address: "127.0.0.1:${s1.port}" }]`,
      'runtime:',
      '  workers: 2',
      `  control_socket: ${socket}`,
      '',
    ].join('\n'),
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  assert.equal(cli.workerPids.length, 2);

  // TLS 1.2 tickets: one handshake gets a session; 20 new connections offer it
  const first = await handshake(cli.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  const session = await first.session();
  first.sock.destroy();
  const resumes = async (label: string) => {
    let reused = 0;
    for (let i = 0; i < 20; i++) {
      const h = await handshake(cli.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2', session });
      if (h.reused) reused++;
      h.sock.destroy();
    }
    assert.equal(reused, 20, `${label}: ${reused} of 20 connections resumed the session`);
  };
  await resumes('two workers');

  // an HTTP/2 connection open across the reload
  const h2 = await h2Session(t, cli.port, { servername: 'www.example.com' });
  assert.equal((await h2Request(h2, { ':path': '/before' })).status, 200);
  const goaway = new Promise<number>((resolve) => h2.once('goaway', (code: number) => resolve(code)));
  const r = await runCli(['reload', '-s', socket]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await goaway, 0, 'GOAWAY with NO_ERROR');
  await resumes('after a reload');
  const fresh = await h2Session(t, cli.port, { servername: 'www.example.com' });
  assert.equal((await h2Request(fresh, { ':path': '/after' })).status, 200);
});

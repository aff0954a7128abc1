/**
 * Errors Fulcrum answers when a server or pool fails (502, 503, 504) name no server,
 * address or pool, and a listener may answer them with pages of its own
 * (`error_pages`), over HTTP/1.1 and HTTP/2 alike.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssue, loadConfigText } from '../../src/config/load.js';
import { startInstance } from '../../src/runtime/instance.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { tempDir } from '../helpers/files.js';
import { h2Request, h2Session, httpsRequest } from '../helpers/http-client.js';
import { closedPort } from '../helpers/ports.js';
import { httpsYaml, proxyFor } from '../helpers/proxies.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';

const PAGE = '<!doctype html><title>Back soon</title><p>We are back in a moment.</p>\n';

test('error_pages: a 503 is the listener\'s page, with its type, over HTTP/1.1 and HTTP/2; the cause goes to the log', { skip: NO_OPENSSL }, async (t) => {
  const errors = recordUpstreamErrors(t);
  const dir = tempDir('fulcrum-pages-', t);
  const page = dir.write('503.html', PAGE);
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const proxy = await proxyFor(t, httpsYaml([www], [await closedPort()], { listener: [`error_pages: { 503: "${page}" }`] }));
  const h1 = await httpsRequest(proxy.port, { path: '/' });
  assert.equal(h1.status, 503);
  assert.equal(h1.body, PAGE);
  assert.equal(h1.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(h1.headers['retry-after'], '1');
  const session = await h2Session(t, proxy.port);
  const h2 = await h2Request(session, { ':path': '/' });
  session.close();
  assert.equal(h2.status, 503);
  assert.equal(h2.body.toString(), PAGE);
  assert.equal(h2.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(errors.events.length, 2);
  for (const e of errors.events) {
    assert.equal(e.pool, 'web');
    assert.match(e.detail, /could not connect to server web\/S1 \(ECONNREFUSED\)/);
  }
});

test('error_pages: paths are relative to the configuration file; an unknown status or a missing file is refused, named', async (t) => {
  const dir = tempDir('fulcrum-pages-', t);
  dir.write('502.json', '{"error":"bad gateway"}');
  const yaml = (pages: string) => `listeners:\n  - name: www\n    bind: 127.0.0.1:0\n    routes: [{ pool: web }]\n    error_pages: ${pages}\npools:\n  web:\n    servers: [{ address: "127.0.0.1:9" }]\n`;
  const ok = loadConfigText(yaml('{ 502: 502.json }'), dir.file('fulcrum.yaml'));
  assert.deepEqual(ok.issues.map(formatIssue), []);
  assert.deepEqual(ok.config!.listeners[0]!.errorPages, { 502: dir.file('502.json') });

  const bad = loadConfigText(yaml('{ 500: x.html }'), dir.file('fulcrum.yaml'));
  assert.equal(bad.issues.length, 1);
  assert.match(formatIssue(bad.issues[0]!), /fulcrum\.yaml:5:\d+: listeners\[0\]\.error_pages.*500/);

  const missing = loadConfigText(yaml('{ 504: nowhere.html }'), dir.file('fulcrum.yaml'));
  await assert.rejects(startInstance(missing.config!), /listener www: error_pages\.504: cannot read .*nowhere\.html \(ENOENT\)/);
});

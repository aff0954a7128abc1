/**
 * The HTTPS and HTTP/2 suites again with TLS on Node's tls module (FULCRUM_TLS=node):
 * HTTPS listeners terminate TLS there wherever the native addon is missing, and with
 * FULCRUM_HTTP_IO=node. Elsewhere in the suite they
 * terminate it in the addon (https-native.test.ts). Listeners read the variable when they
 * are made, in the tests, after this module's body has set it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpFrontend } from '../../src/proxy/http/frontend.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { echoBackend } from '../helpers/backends.js';
import { httpsYaml, proxyFor } from '../helpers/proxies.js';
import './https-tls.test.js';
import './https-http2.test.js';
import './https-reload.test.js';

process.env.FULCRUM_TLS = 'node';

test("with FULCRUM_TLS=node, HTTPS listeners terminate TLS with Node's tls module", { skip: NO_OPENSSL }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const fe = proxy.instance.listeners[0] as unknown as HttpFrontend;
  assert.equal(fe.edge?.nativeTls, null);
  assert.equal(fe.sockets, 'node');
});

/**
 * The main HTTP proxy suites again, on Node's sockets (FULCRUM_HTTP_IO=node): the engine
 * runs there wherever the native addon is missing (not built, not Linux) and for TLS
 * clients. Elsewhere in the suite plain HTTP listeners use the native sockets
 * (http-sockets.test.ts). Listeners read the variable when they are made, in the tests,
 * after this module's body has set it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleYaml, startProxy } from '../helpers/proxies.js';
import './proxy-basics.test.js';
import './proxy-streams.test.js';
import './proxy-failures.test.js';
import './corpus-requests.test.js';

process.env.FULCRUM_HTTP_IO = 'node';

test("with FULCRUM_HTTP_IO=node, plain HTTP listeners use Node's sockets", async (t) => {
  const p = await startProxy(simpleYaml([9]));
  t.after(() => p.stop());
  assert.equal((p.instance.listeners[0] as unknown as { sockets: string }).sockets, 'node');
});

/**
 * PROXY protocol interop with HAProxy itself (Debian haproxy), both ways:
 * - Fulcrum (send_proxy v1/v2) in front of HAProxy `bind ... accept-proxy`;
 * - HAProxy (`send-proxy` / `send-proxy-v2`, mode tcp) in front of Fulcrum
 *   (`proxy_protocol` trusting 127.0.0.1).
 * The far end is an HAProxy HTTP frontend with accept-proxy that answers with the client
 * address it was told (%[src]:%[src_port]), so both the encoding and the parsing are
 * checked by a peer nobody here wrote. Clients connect from 127.0.0.2 so that their
 * address differs from the balancers' own.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { rawConnect } from '../helpers/http-client.js';
import { findBinary, startHaproxy } from '../helpers/spawn.js';
import { freePort } from '../helpers/ports.js';
import { tcpProxy, tcpYaml } from '../helpers/proxies.js';

const HAPROXY = findBinary('haproxy');
const skip = HAPROXY === undefined ? 'haproxy is not installed (apt-get install haproxy): no interop peer' : false;

const CLIENT_ADDR = '127.0.0.2';

function globals(): string {
  return ['global', '  maxconn 200', '', 'defaults', '  timeout connect 2s', '  timeout client 10s', '  timeout server 10s', ''].join('\n');
}

/** An HAProxy HTTP frontend with accept-proxy answering "src=ADDR:PORT dst=ADDR:PORT". */
function echoFrontend(name: string, port: number): string {
  return [
    `frontend ${name}`,
    '  mode http',
    `  bind 127.0.0.1:${port} accept-proxy`,
    '  http-request return status 200 content-type text/plain lf-string "src=%[src]:%[src_port] dst=%[dst]:%[dst_port]"',
    '',
  ].join('\n');
}

/** Sends one HTTP request from 127.0.0.2 to `port` and returns the body and our local port. */
async function ask(t: TestContext, port: number): Promise<{ body: string; localPort: number }> {
  const c = await rawConnect(port, { t, localAddress: CLIENT_ADDR });
  const localPort = c.sock.localPort!;
  c.sock.write('GET / HTTP/1.1\r\nHost: interop\r\nConnection: close\r\n\r\n');
  const head = await c.reader.readHead(5000);
  assert.match(head, /^HTTP\/1\.1 200/);
  const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? -1);
  const body = len >= 0 ? (await c.reader.readBytes(len, 5000)).toString() : (await c.reader.readToEnd(5000)).toString();
  c.sock.end();
  return { body, localPort };
}

test('Fulcrum send_proxy v1 and v2 in front of HAProxy accept-proxy', { skip }, async (t) => {
  const [echoV1, echoV2] = [await freePort(), await freePort()];
  await startHaproxy(t, HAPROXY!, [globals(), echoFrontend('echo_v1', echoV1), echoFrontend('echo_v2', echoV2)].join('\n'), [echoV1, echoV2]);
  for (const [version, port] of [
    ['v1', echoV1],
    ['v2', echoV2],
  ] as const) {
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [port], lines: [`    send_proxy: ${version}`] } }));
    const { body, localPort } = await ask(t, p.port);
    assert.equal(body, `src=${CLIENT_ADDR}:${localPort} dst=127.0.0.1:${p.port}`, `send_proxy ${version}`);
  }
});

test('HAProxy send-proxy and send-proxy-v2 in front of Fulcrum proxy_protocol', { skip }, async (t) => {
  const [echo, frontV1, frontV2] = [await freePort(), await freePort(), await freePort()];
  // Fulcrum trusts HAProxy (127.0.0.1) and passes the client on with send_proxy v1.
  const p = await tcpProxy(
    t,
    tcpYaml({ web: { servers: [echo], lines: ['    send_proxy: v1'] } }, { listener: ['    proxy_protocol: { trusted: [127.0.0.1/32] }'] }),
  );
  const config = [
    globals(),
    echoFrontend('echo', echo),
    'frontend front_v1',
    '  mode tcp',
    `  bind 127.0.0.1:${frontV1}`,
    '  default_backend fulcrum_v1',
    '',
    'frontend front_v2',
    '  mode tcp',
    `  bind 127.0.0.1:${frontV2}`,
    '  default_backend fulcrum_v2',
    '',
    'backend fulcrum_v1',
    '  mode tcp',
    `  server fulcrum 127.0.0.1:${p.port} send-proxy`,
    '',
    'backend fulcrum_v2',
    '  mode tcp',
    `  server fulcrum 127.0.0.1:${p.port} send-proxy-v2`,
    '',
  ].join('\n');
  await startHaproxy(t, HAPROXY!, config, [echo, frontV1, frontV2]);
  for (const [what, port] of [
    ['send-proxy', frontV1],
    ['send-proxy-v2', frontV2],
  ] as const) {
    const { body, localPort } = await ask(t, port);
    // The client's address crossed HAProxy -> Fulcrum -> HAProxy; the destination is
    // what the client connected to (HAProxy's frontend), carried through.
    assert.equal(body, `src=${CLIENT_ADDR}:${localPort} dst=127.0.0.1:${port}`, what);
  }
});

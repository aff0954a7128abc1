/**
 * HTTP/2 servers that break the protocol, behind an h2c pool: each bad answer costs that
 * server connection (or, for a malformed response, that stream) and the request a 502;
 * the balancer keeps running and the next request on a fresh connection is answered.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { ERR, FLAG, FRAME, PREFACE, frame, headerBlock } from '../helpers/h2-frames.js';
import { rawExchange } from '../helpers/http-client.js';
import { proxyFor } from '../helpers/proxies.js';

type Misbehaviour = (sock: net.Socket, stream: number) => void;

/**
 * A raw h2c server: reads the preface, sends SETTINGS, and answers the first request's
 * HEADERS with `bad` and later ones with a good 200. Records the GOAWAY codes it receives.
 */
async function rawServer(t: TestContext, bad: Misbehaviour): Promise<{ port: number; goaways: number[]; requests: number }> {
  const state = { port: 0, goaways: [] as number[], requests: 0 };
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let preface = false;
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!preface) {
        if (buf.length < PREFACE.length) return;
        preface = true;
        buf = buf.subarray(PREFACE.length);
        sock.write(frame(FRAME.SETTINGS, 0, 0));
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        if (type === FRAME.GOAWAY) state.goaways.push(buf.readUInt32BE(9 + 4));
        if (type === FRAME.SETTINGS && (buf[4]! & FLAG.ACK) === 0) sock.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        if (type === FRAME.HEADERS) {
          if (++state.requests === 1) bad(sock, id);
          else sock.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock([[':status', '200'], ['content-length', '0']])));
        }
        buf = buf.subarray(9 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  t.after(() => server.close());
  return state;
}

function yaml(port: number): string {
  return [
    'listeners:',
    '  - name: www',
    '    bind: 127.0.0.1:0',
    '    routes: [{ pool: web }]',
    'pools:',
    '  web:',
    '    protocol: h2c',
    '    retries: 0',
    '    servers:',
    `      - { name: a, address: "127.0.0.1:${port}" }`,
    '',
  ].join('\n');
}

const CASES: Array<[string, Misbehaviour, number | null]> = [
  ['DATA on stream 0', (s) => s.write(frame(FRAME.DATA, 0, 0, Buffer.from('x'))), ERR.PROTOCOL_ERROR],
  ['a header block that does not decode', (s, id) => s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))), ERR.COMPRESSION_ERROR],
  ['a frame larger than allowed', (s, id) => s.write(frame(FRAME.DATA, 0, id, Buffer.alloc(20_000))), ERR.FRAME_SIZE_ERROR],
  ['HEADERS on a stream the client never opened', (s) => s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 2, headerBlock([[':status', '200']]))), ERR.PROTOCOL_ERROR],
  ['a response with CR LF in a field value (stream error only)', (s, id) => s.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock([[':status', '200'], ['x-injected', 'a\r\nset-cookie: evil=1']]))), null],
  ['garbage that is not HTTP/2 at all', (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'), ERR.FRAME_SIZE_ERROR],
];

for (const [what, bad, code] of CASES) {
  test(`h2c pool: a server sending ${what}: 502, ${code === null ? 'RST_STREAM' : `GOAWAY ${code}`}, and the next request is answered`, async (t) => {
    const srv = await rawServer(t, bad);
    const proxy = await proxyFor(t, yaml(srv.port));
    const first = await rawExchange(proxy.port, 'GET /one HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
    assert.equal(first.status, 502);
    assert.doesNotMatch(first.head, /evil/);
    if (code !== null) assert.deepEqual(srv.goaways.slice(0, 1), [code]);
    const second = await rawExchange(proxy.port, 'GET /two HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
    assert.equal(second.status, 200);
  });
}

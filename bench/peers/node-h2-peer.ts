/**
 * The Node floor for HTTP/2: Node's own `http2.createServer` (h2c, prior knowledge), one
 * process, answering every request itself with a fixed 200 `S1\n`. It does not proxy,
 * route or apply a rule, so no proxy built on node:http2 can serve HTTP/2 clients faster
 * on the same machine: its ratio to HAProxy (which does proxy) bounds what Fulcrum's
 * HTTP/2 listener can reach while it is built on node:http2.
 *
 *   node dist/bench/peers/node-h2-peer.js PORT
 *
 * Listens on 127.0.0.1:PORT and prints "node-h2 peer listening on 127.0.0.1:PORT" on
 * stderr when ready. Exits on SIGTERM/SIGINT.
 */
import http2 from 'node:http2';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node-h2-peer PORT\n');
  process.exit(2);
}

const HEAD = { ':status': 200, 'content-type': 'text/plain', 'content-length': '3' };
const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
  stream.respond(HEAD);
  stream.end('S1\n');
});
server.listen(port, '127.0.0.1', () => process.stderr.write(`node-h2 peer listening on 127.0.0.1:${port}\n`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));

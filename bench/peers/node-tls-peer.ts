/**
 * The Node floor for the https benchmark: Node's own `tls.createServer`, one process,
 * answering every HTTP/1.1 request itself with a fixed 200 `S1\n`. It does not proxy,
 * parse headers or route. No proxy written in Node can terminate TLS faster than this
 * on the same machine, so its ratio to HAProxy (which does proxy) bounds what Fulcrum
 * can reach. Tickets renew on resumption as Fulcrum's do (src/tls/ticket-renewal.ts),
 * so both resume the same share of wrk's connections.
 *
 *   node dist/bench/peers/node-tls-peer.js PORT CERT KEY
 *
 * Listens on 127.0.0.1:PORT and prints "node-tls peer listening on 127.0.0.1:PORT" on
 * stderr when ready. Exits on SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { renewTickets } from '../../src/tls/ticket-renewal.js';

const [portArg, certFile, keyFile] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: node-tls-peer PORT CERT KEY\n');
  process.exit(2);
}

const KEEP = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nS1\n';
const CLOSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nS1\n';
const END_OF_HEAD = Buffer.from('\r\n\r\n');
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

const ticketKeys = randomBytes(48);
const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), ALPNProtocols: ['http/1.1'], ticketKeys }, (sock) => {
  let pending = '';
  sock.setNoDelay(true);
  sock.on('error', () => {});
  sock.on('data', (chunk: Buffer) => {
    // requests without bodies (wrk's GETs): answer each complete head
    pending += chunk.toString('latin1');
    let end: number;
    while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
      const head = pending.slice(0, end + END_OF_HEAD.length);
      pending = pending.slice(end + END_OF_HEAD.length);
      if (CONNECTION_CLOSE.test(head)) {
        sock.end(CLOSE);
        return;
      }
      sock.write(KEEP);
    }
  });
});
// tls.Server keeps its default context in _sharedCreds: give it the same ticket renewal as Fulcrum's
const shared = (server as unknown as { _sharedCreds?: tls.SecureContext })._sharedCreds;
if (shared !== undefined) renewTickets(shared, ticketKeys);

server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`node-tls peer listening on 127.0.0.1:${port}\n`);
});

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

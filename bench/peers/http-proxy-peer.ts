/**
 * The Node peer for the http benchmark: the npm package http-proxy with a keep-alive
 * agent, round robin over the backends, one process (one event loop).
 *
 *   node dist/bench/peers/http-proxy-peer.js PORT URL [URL...]
 *
 * Listens on 127.0.0.1:PORT and prints "http-proxy peer listening on 127.0.0.1:PORT" on
 * stderr when ready. Exits on SIGTERM/SIGINT.
 */
import http from 'node:http';
import httpProxy from 'http-proxy';

const [portArg, ...targets] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || targets.length === 0) {
  process.stderr.write('usage: http-proxy-peer PORT URL [URL...]\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ agent });

proxy.on('error', (err, _req, res) => {
  if (res instanceof http.ServerResponse) {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`bad gateway: ${err.message}\n`);
    } else {
      res.destroy();
    }
  } else {
    res.destroy();
  }
});

let next = 0;
const server = http.createServer((req, res) => {
  const target = targets[next]!;
  next = (next + 1) % targets.length;
  proxy.web(req, res, { target });
});

server.listen(port, '127.0.0.1', () => {
  process.stderr.write(`http-proxy peer listening on 127.0.0.1:${port} -> ${targets.join(', ')}\n`);
});

const stop = () => {
  server.close();
  agent.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

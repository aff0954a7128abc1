/**
 * Backends for the scrape benchmark: COUNT tiny HTTP servers ("ok") on consecutive ports
 * of 127.0.0.1, in one process.
 *
 *   node dist/bench/peers/many-backends.js FIRST_PORT COUNT
 *
 * Prints "ready" on stdout once all listen. Exits on SIGTERM/SIGINT.
 */
import http from 'node:http';

const first = Number(process.argv[2]);
const count = Number(process.argv[3]);
let listening = 0;
for (let i = 0; i < count; i++) {
  http
    .createServer((_req, res) => {
      res.setHeader('content-length', 2);
      res.end('ok');
    })
    .listen(first + i, '127.0.0.1', () => {
      if (++listening === count) process.stdout.write('ready\n');
    });
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));

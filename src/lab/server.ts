/**
 * S1 and S2 of `fulcrum lab` (and of the data plane tests), run inside a network
 * namespace: `node dist/src/lab/server.js PORT NAME`. On TCP PORT (HTTP/1.1,
 * keep-alive): `GET /name` answers NAME (no newline), `GET /bytes/N` N bytes, `GET
 * /drip/MS` 16 KiB every 20 ms for MS milliseconds (a slow download for the lab's
 * drills; its head comes at once, with its length), `POST
 * /upload` the length and SHA-256 of the body as JSON, `GET /health` 200. On UDP PORT
 * it answers every datagram with NAME, except the lab's UDP transfers (src/lab/udp-client.ts):
 * `lab:KIND:SEQ:N` is answered with `NAME SEQ`, padded to N bytes when KIND is `down`.
 * Every HTTP answer carries `X-Served-By: NAME`. Prints "ready" once both are bound;
 * exits on SIGTERM.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';

const [portText, name = 'server'] = process.argv.slice(2);
const port = Number(portText);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const DRIP = CHUNK.subarray(0, 16 * 1024);

const server = http.createServer((req, res) => {
  res.setHeader('X-Served-By', name);
  if (req.method === 'POST' && req.url === '/upload') {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (b: Buffer) => {
      hash.update(b);
      bytes += b.length;
    });
    req.on('end', () => {
      const body = JSON.stringify({ server: name, bytes, sha256: hash.digest('hex') });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  req.resume();
  const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (m !== null) {
    let left = Math.min(Number(m[1]), 1 << 30);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': left });
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', more);
      }
      res.end();
    };
    more();
    return;
  }
  const drip = /^\/drip\/(\d+)$/.exec(req.url ?? '');
  if (drip !== null) {
    let chunks = Math.ceil(Math.min(Number(drip[1]), 60_000) / 20);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': chunks * DRIP.length });
    res.flushHeaders();
    const timer = setInterval(() => {
      res.write(DRIP);
      if (--chunks === 0) (clearInterval(timer), res.end());
    }, 20);
    res.once('close', () => clearInterval(timer));
    return;
  }
  const body = req.url === '/health' ? 'ok' : name;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;

const udp = dgram.createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const lab = msg.subarray(0, 40).toString('latin1').split(':');
  if (lab[0] !== 'lab' || lab.length < 4) return void udp.send(name, rinfo.port, rinfo.address);
  const head = Buffer.from(`${name} ${lab[2]} `);
  const size = lab[1] === 'down' ? Math.min(Math.max(Number(lab[3]) || 0, head.length), 1472) : head.length;
  const answer = Buffer.alloc(size, 'd');
  head.copy(answer);
  udp.send(answer, rinfo.port, rinfo.address);
});

let pending = 2;
const ready = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};
server.listen(port, '0.0.0.0', ready);
udp.bind(port, '0.0.0.0', ready);
process.on('SIGTERM', () => process.exit(0));

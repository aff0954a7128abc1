/**
 * The lab's UDP client, run in the client's namespace for the `udp` mode: `node
 * dist/src/lab/udp-client.js SPEC`, SPEC a JSON `TransferSpec` whose `base` is
 * udp://HOST:PORT. The transfers in datagrams, as S1 and S2 (src/lab/server.ts) answer them:
 *
 *   upload    `size` bytes in datagrams of up to 1400 bytes, each answered by a short ack;
 *   download  `size` bytes in answers of up to 1400 bytes, one per short request;
 *   requests  `count` small datagrams, each answered by a small one (as DNS queries are).
 *
 * Each datagram carries a sequence number that its answer repeats. Up to WINDOW are in
 * flight; one unanswered after RESEND_MS is sent again, at most TRIES times. Prints one
 * JSON `TransferOutcome` line; `bytes` counts each payload once, resent or not.
 */
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { TransferOutcome, TransferSpec } from './client.js';

const CHUNK = 1400;
const WINDOW = 16;
const RESEND_MS = 200;
const TRIES = 5;

interface Pending {
  bytes: number;
  packet: Buffer;
  sent: number;
  tries: number;
}

export function runUdpTransfer(spec: TransferSpec): Promise<TransferOutcome> {
  const url = new URL(spec.base);
  const out: TransferOutcome = { ok: false, ms: 0, bytes: 0, servers: {}, redirects: 0 };
  // the payload of each datagram, in order: upload and download in chunks, requests one each
  const sizes: number[] = [];
  if (spec.kind === 'requests') for (let i = 0; i < spec.count; i++) sizes.push(0);
  else for (let left = spec.size; left > 0; left -= CHUNK) sizes.push(Math.min(CHUNK, left));
  const kind = spec.kind === 'upload' ? 'up' : spec.kind === 'download' ? 'down' : 'req';
  const socket = dgram.createSocket('udp4');
  const pending = new Map<number, Pending>();
  const start = process.hrtime.bigint();
  let next = 0;
  let resent = 0;
  let done = false;

  return new Promise((resolve) => {
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearInterval(resender);
      clearTimeout(deadline);
      socket.close();
      out.ok = error === undefined;
      if (error !== undefined) out.error = error;
      out.ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve(out);
    };
    const send = (p: Pending) => {
      p.sent = Date.now();
      p.tries++;
      socket.send(p.packet, Number(url.port), url.hostname);
    };
    const fill = () => {
      if (done) return;
      while (pending.size < WINDOW && next < sizes.length) {
        const seq = next++;
        const size = sizes[seq]!;
        const head = `lab:${kind}:${seq}:${size}:`;
        const packet = Buffer.alloc(kind === 'up' ? Math.max(size, head.length) : head.length, 'u');
        packet.write(head, 'latin1');
        const p: Pending = { bytes: size, packet, sent: 0, tries: 0 };
        pending.set(seq, p);
        send(p);
      }
      if (pending.size === 0 && next === sizes.length) finish();
    };
    socket.on('message', (msg) => {
      const [server, seqText] = msg.subarray(0, 40).toString('latin1').split(' ');
      const p = pending.get(Number(seqText));
      if (p === undefined || server === undefined) return; // an answer to a resent datagram, already counted
      pending.delete(Number(seqText));
      out.servers[server] = (out.servers[server] ?? 0) + 1;
      out.bytes += kind === 'down' ? Math.min(p.bytes, msg.length) : kind === 'up' ? p.bytes : msg.length;
      fill();
    });
    socket.on('error', (err) => finish(err.message));
    const resender = setInterval(() => {
      const now = Date.now();
      for (const [seq, p] of pending) {
        if (now - p.sent < RESEND_MS) continue;
        if (p.tries >= TRIES) return finish(`datagram ${seq} unanswered after ${TRIES} tries`);
        resent++;
        send(p);
      }
    }, 50);
    const deadline = setTimeout(() => finish(`timed out after ${spec.timeoutMs} ms (${resent} datagrams resent)`), spec.timeoutMs);
    socket.bind(0, fill);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as TransferSpec;
  const outcome = await runUdpTransfer(spec);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  process.exitCode = outcome.ok ? 0 : 1;
}

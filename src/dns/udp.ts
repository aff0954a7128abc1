/**
 * The DNS server's UDP sockets. With the native addon (Linux), datagrams are read with
 * recvmmsg, answered a batch at a time by one JavaScript call and sent with sendmmsg
 * (native/udp.c): two system calls and one crossing into JavaScript per batch of up to
 * 64 queries, and no Buffer, rinfo object or send request per query. Without it, a
 * node:dgram socket answers each datagram in its 'message' handler.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { nativeAddon, UDP_BATCH, UDP_IN_SLOT, UDP_META, UDP_OUT_SLOT, type Addon } from '../io/addon.js';
import type { Family, QueryClient } from './policy.js';
import type { Responder } from './responder.js';

/** Kernel socket buffer asked for on UDP sockets (the kernel may cap it at net.core.rmem_max). */
const UDP_BUFFER_BYTES = 4 << 20;

/** One bound UDP socket answering through a Responder. */
export interface DnsUdpSocket {
  /** The port bound (the one chosen, when 0 was asked). */
  readonly port: number;
  /** Which implementation: batched in the addon, or node:dgram. */
  readonly kind: 'native' | 'dgram';
  close(): Promise<void>;
}

/**
 * Binds a UDP socket on host:port answering every query through `responder`; with
 * `native` (the default when the addon loads), the batched one. Rejects with the bind
 * error (an Error with `code`, as node:dgram's).
 */
export async function openDnsUdp(host: string, port: number, responder: Responder, log: (msg: string) => void, native = true): Promise<DnsUdpSocket> {
  // the addon takes plain IP literals (no zone index: node:dgram resolves those)
  const addon = native && net.isIP(host) !== 0 && !host.includes('%') ? nativeAddon() : null;
  if (addon !== null) return NativeUdp.open(addon, host, port, responder);
  return DgramUdp.open(host, port, responder, log);
}

// ---- batched, in the addon ------------------------------------------------------------------

/** The arenas the addon reads datagrams into and sends answers from; one per process. */
interface Arena {
  readonly datagrams: Buffer;
  readonly answers: Buffer;
  readonly meta: Int32Array;
}
let arena: Arena | null = null;

function arenaFor(addon: Addon): Arena {
  if (arena === null) {
    const a = {
      datagrams: Buffer.allocUnsafeSlow(UDP_BATCH * UDP_IN_SLOT),
      answers: Buffer.allocUnsafeSlow(UDP_BATCH * UDP_OUT_SLOT),
      meta: new Int32Array(UDP_BATCH * UDP_META),
    };
    addon.udpArena(a.datagrams, a.answers, a.meta);
    arena = a;
  }
  return arena;
}

/** The sender of datagram `index` of the batch being answered, from its meta record (family, port, address words). */
class BatchClient implements QueryClient {
  index = 0;
  constructor(
    private readonly meta: Int32Array,
    private readonly addon: Addon,
  ) {}

  octets(out: Uint8Array): Family | 0 {
    const m = this.meta;
    const b = this.index * UDP_META;
    if (m[b + 1] === 4) {
      putWord(out, 0, m[b + 4]!);
      return 4;
    }
    // IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4, as for address text
    if (m[b + 4] === 0 && m[b + 5] === 0 && m[b + 6] === 0xffff) {
      putWord(out, 0, m[b + 7]!);
      return 4;
    }
    for (let w = 0; w < 4; w++) putWord(out, 4 * w, m[b + 4 + w]!);
    return 6;
  }

  text(): string {
    return this.addon.udpPeer(this.index) ?? '';
  }
}

function putWord(out: Uint8Array, at: number, w: number): void {
  out[at] = w >>> 24;
  out[at + 1] = (w >>> 16) & 0xff;
  out[at + 2] = (w >>> 8) & 0xff;
  out[at + 3] = w & 0xff;
}

class NativeUdp implements DnsUdpSocket {
  readonly kind = 'native';
  private closed = false;

  private constructor(
    private readonly addon: Addon,
    private readonly id: number,
    readonly port: number,
  ) {}

  static open(addon: Addon, host: string, port: number, responder: Responder): Promise<DnsUdpSocket> {
    const { datagrams, answers, meta } = arenaFor(addon);
    const client = new BatchClient(meta, addon);
    const onBatch = (count: number) => {
      for (let i = 0; i < count; i++) {
        const b = i * UDP_META;
        const start = i * UDP_IN_SLOT;
        client.index = i;
        meta[b + 3] = responder.respondInto(datagrams.subarray(start, start + meta[b]!), client, answers, i * UDP_OUT_SLOT, UDP_OUT_SLOT);
      }
    };
    const id = addon.udpOpen(host, port, UDP_BUFFER_BYTES, onBatch);
    if (id < 0) return Promise.reject(errnoError(id, host, port));
    const bound = addon.udpLocal(id)?.[1] ?? port;
    return Promise.resolve(new NativeUdp(addon, id, bound));
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.addon.udpClose(this.id);
    }
    return Promise.resolve();
  }
}

/** An Error shaped as node:dgram's bind errors ("bind EADDRINUSE 127.0.0.1:53", with code, errno, syscall). */
function errnoError(negErrno: number, host: string, port: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(negErrno);
  const err: NodeJS.ErrnoException = new Error(`bind ${code} ${host}:${port}`);
  err.code = code;
  err.errno = negErrno;
  err.syscall = 'bind';
  return err;
}

// ---- node:dgram ---------------------------------------------------------------------------

class DgramUdp implements DnsUdpSocket {
  readonly kind = 'dgram';
  private closed = false;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly port: number,
  ) {}

  static async open(host: string, port: number, responder: Responder, log: (msg: string) => void): Promise<DnsUdpSocket> {
    const sock = dgram.createSocket({
      type: net.isIPv6(host) ? 'udp6' : 'udp4',
      recvBufferSize: UDP_BUFFER_BYTES,
      sendBufferSize: UDP_BUFFER_BYTES,
      // Every address we send to or bind is an IP literal (rinfo.address, the listen
      // host): answering synchronously skips dns.lookup's isIP checks and its nextTick
      // hop on every send.
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
    });
    sock.on('message', (msg, rinfo) => {
      const out = responder.respond(msg, rinfo.address, 'udp');
      if (out === null) return;
      try {
        sock.send(out, rinfo.port, rinfo.address);
      } catch {
        // the socket is closing
      }
    });
    let bound: number;
    try {
      bound = await bindUdp(sock, host, port);
    } catch (err) {
      sock.close();
      throw err;
    }
    // Errors while binding were thrown above; from now on they are only reported.
    sock.on('error', (err) => log(`udp socket error: ${err.message}`));
    return new DgramUdp(sock, bound);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise<void>((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

/** A `lookup` for dgram that takes the address as given (callers only pass IP literals). */
function literalLookup(address: string, family: number | string, cb: (err: Error | null, address: string, family: number) => void): void {
  if (family === 4 || family === 'IPv4') cb(null, address, 4);
  else if (family === 6 || family === 'IPv6') cb(null, address, 6);
  else cb(null, address, net.isIPv6(address) ? 6 : 4);
}

function bindUdp(sock: dgram.Socket, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind(port, host, () => {
      sock.off('error', onError);
      resolve(sock.address().port);
    });
  });
}

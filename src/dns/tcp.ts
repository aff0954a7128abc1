/**
 * DNS over TCP (RFC 7766): length-prefixed messages, several per connection, answered
 * in order as soon as each is whole. What one client can hold is bounded:
 *
 * - a message must arrive whole within `tcpMessageMs` of its first byte (a budget, not
 *   an idle timer that each byte restarts: a byte every 2 s no longer keeps a slot);
 * - a connection with no message under way is closed `tcpIdleMs` after its last
 *   answer (or its start);
 * - at `tcpMaxConnections`, a new connection closes the least recently useful one (the
 *   one whose last whole message is oldest: idle ones, and slow ones that have been
 *   sending a message for longest), as RFC 7766 section 6.2.2 suggests, instead of
 *   being refused; at `tcpMaxPerClient` from one address, that client's own least
 *   recently useful connection goes.
 *
 * A client that does not read its answers is not read from until they drain.
 */
import type net from 'node:net';
import type { DnsConfig } from '../config/types.js';
import { Sweeper, tickFor, type Expirable } from '../core/sweeper.js';
import type { Responder } from './responder.js';

/** Answers queued to a TCP client beyond this stop reading from it until they drain. */
const TCP_BACKLOG_BYTES = 256 * 1024;

type Limits = Pick<DnsConfig, 'tcpIdleMs' | 'tcpMessageMs' | 'tcpMaxConnections' | 'tcpMaxPerClient'>;

/** Why connections were closed early, for the tests and the status output. */
export interface TcpStats {
  /** Closed to make room for a new connection (the cap or the client's limit). */
  evicted: number;
  /** Closed because a message did not arrive whole in time. */
  slowMessages: number;
  /** Closed after the idle timeout. */
  idle: number;
}

class Conn implements Expirable {
  deadline = 0;
  sweepSlot = -1;
  /** When the last whole message arrived (or the connection opened). */
  since: number;
  /** Bytes read and not yet answered: part of a message, or what arrived while paused. */
  pending: Buffer | null = null;
  /** When the first byte of the message under way arrived (meaningful while `pending` is set). */
  messageStart = 0;
  /** Waiting for the client to read its answers. */
  waiting = false;

  constructor(
    readonly owner: TcpConnections,
    readonly sock: net.Socket,
    readonly client: string,
    now: number,
  ) {
    this.since = now;
    this.deadline = now + owner.limits.tcpIdleMs;
  }

  /** Re-arms the deadline after a read or an answer: the idle time, or the message's budget. */
  arm(now: number): void {
    const l = this.owner.limits;
    this.deadline = Math.max(now, this.pending === null || this.waiting ? this.since + l.tcpIdleMs : this.messageStart + l.tcpMessageMs);
  }

  expire(): void {
    if (this.pending !== null && !this.waiting) this.owner.stats.slowMessages++;
    else this.owner.stats.idle++;
    this.sock.destroy();
  }
}

/** The TCP connections of one DNS listen address. */
export class TcpConnections {
  readonly stats: TcpStats = { evicted: 0, slowMessages: 0, idle: 0 };
  /** Open connections, least recently useful first (a whole message moves one to the end). */
  private readonly conns = new Map<net.Socket, Conn>();
  private readonly perClient = new Map<string, number>();
  private readonly sweeper: Sweeper;

  constructor(
    readonly limits: Limits,
    private readonly responder: Responder,
  ) {
    this.sweeper = new Sweeper(tickFor(Math.min(limits.tcpIdleMs, limits.tcpMessageMs)));
  }

  /** Connections open now. */
  get size(): number {
    return this.conns.size;
  }

  /** Takes a new connection, making room for it first when a limit is reached. */
  accept(sock: net.Socket): void {
    const client = sock.remoteAddress ?? '';
    if ((this.perClient.get(client) ?? 0) >= this.limits.tcpMaxPerClient) this.evict(client);
    if (this.conns.size >= this.limits.tcpMaxConnections) this.evict(null);
    const now = Date.now();
    const c = new Conn(this, sock, client, now);
    this.conns.set(sock, c);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    this.sweeper.add(c);
    sock.on('error', () => {
      // resets and the like: the connection is closed below
    });
    sock.on('close', () => this.forget(c));
    sock.on('data', (chunk: Buffer) => this.onData(c, chunk));
  }

  /** Closes every connection (the server stops). */
  closeAll(): void {
    for (const c of this.conns.values()) c.sock.destroy();
    this.conns.clear();
    this.perClient.clear();
    this.sweeper.close();
  }

  /** Closes the least recently useful connection (of `client` when given). */
  private evict(client: string | null): void {
    for (const c of this.conns.values()) {
      if (client !== null && c.client !== client) continue;
      this.stats.evicted++;
      this.forget(c);
      c.sock.destroy();
      return;
    }
  }

  private forget(c: Conn): void {
    if (this.conns.get(c.sock) !== c) return;
    this.conns.delete(c.sock);
    this.sweeper.delete(c);
    const n = (this.perClient.get(c.client) ?? 1) - 1;
    if (n === 0) this.perClient.delete(c.client);
    else this.perClient.set(c.client, n);
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (c.pending === null) {
      c.pending = chunk;
      c.messageStart = Date.now();
    } else c.pending = Buffer.concat([c.pending, chunk]);
    if (!c.waiting) this.work(c);
  }

  /** Answers every whole message in `pending`, then re-arms the connection's deadline. */
  private work(c: Conn): void {
    const buf = c.pending;
    if (buf === null) return;
    c.pending = null;
    const sock = c.sock;
    let p = 0;
    let answered = false;
    while (buf.length - p >= 2) {
      if (sock.writableLength > TCP_BACKLOG_BYTES) {
        // The client is not reading its answers: stop reading its queries until they drain.
        c.waiting = true;
        sock.pause();
        sock.once('drain', () => {
          c.waiting = false;
          sock.resume();
          this.work(c);
        });
        break;
      }
      const len = (buf[p]! << 8) | buf[p + 1]!;
      if (buf.length - p - 2 < len) break;
      const msg = buf.subarray(p + 2, p + 2 + len);
      p += 2 + len;
      const outs = this.responder.respondAll(msg, c.client, 'tcp');
      if (outs.length === 0) {
        // Not a query (too short, or a response): nothing sensible can follow.
        sock.destroy();
        return;
      }
      for (const o of outs) {
        const frame = Buffer.allocUnsafe(o.length + 2);
        frame[0] = o.length >> 8;
        frame[1] = o.length & 0xff;
        o.copy(frame, 2);
        sock.write(frame);
      }
      answered = true;
    }
    // Kept between reads: one incomplete message (< 65537 octets), or what arrived
    // while paused (at most one read more).
    if (p < buf.length) c.pending = p === 0 ? buf : Buffer.from(buf.subarray(p));
    const now = Date.now();
    if (answered) {
      c.since = now;
      // the rest, if any, is a message that started in this read
      c.messageStart = now;
      // most recently useful: to the end of the eviction order
      this.conns.delete(sock);
      this.conns.set(sock, c);
    }
    c.arm(now);
  }
}

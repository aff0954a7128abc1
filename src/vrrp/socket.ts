/**
 * The VRRP socket of one interface: a raw IPv4 socket for protocol 112 (the `raw-socket`
 * package), bound to the interface, a member of 224.0.0.18 on it, writing whole packets
 * (IP_HDRINCL) so that the source address and TTL 255 are ours to set, and not hearing
 * its own multicast. Every packet read is decoded here; what fails a check is counted
 * by reason and goes no further. Needs CAP_NET_RAW (root).
 */
import raw, { type RawSocket } from 'raw-socket';
import { FulcrumError } from '../core/errors.js';
import type { InterfaceInfo } from './interface.js';
import { decodeIpv4Advert, encodeIpv4, ipv4ToInt, VRRP_GROUP, VRRP_PROTOCOL, zeroDrops, type DropCounts, type DropReason, type ReceivedAdvert } from './packet.js';

// <linux/in.h>, <asm-generic/socket.h>
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_HDRINCL = 3;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;

/** Large enough for any VRRP packet (at most 60 + 8 + 255 * 4 octets). */
const RECV_BUFFER = 2048;

/**
 * One interface's socket. `onAdvert` receives every advertisement that decodes and
 * passes its checks; `drops` counts the rest. Construction opens the socket and throws
 * FULCRUM_ERR_CONFIG when it cannot (no permission, no such interface).
 */
export class VrrpSocket {
  readonly drops: DropCounts = zeroDrops();
  private sock: RawSocket;
  private closed = false;
  /** Sends queued in raw-socket and not yet written. */
  private pending = 0;
  private drained: (() => void) | null = null;
  /** Drops already reported in a log line, and the pending report. */
  private reported: DropCounts = zeroDrops();
  private reportTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly iface: InterfaceInfo,
    private readonly onAdvert: (a: ReceivedAdvert) => void,
    private readonly log: (msg: string) => void,
  ) {
    this.sock = this.open();
  }

  private open(): RawSocket {
    let sock: RawSocket;
    try {
      sock = raw.createSocket({ protocol: VRRP_PROTOCOL, bufferSize: RECV_BUFFER });
      const dev = Buffer.from(`${this.iface.name}\0`);
      sock.setOption(SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length);
      sock.setOption(IPPROTO_IP, IP_HDRINCL, 1);
      sock.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);
      // struct ip_mreqn { imr_multiaddr, imr_address, imr_ifindex }
      const ifOnly = Buffer.alloc(12);
      ifOnly.writeInt32LE(this.iface.index, 8);
      sock.setOption(IPPROTO_IP, IP_MULTICAST_IF, ifOnly, 12);
      const join = Buffer.alloc(12);
      join.writeUInt32BE(ipv4ToInt(VRRP_GROUP), 0);
      join.writeInt32LE(this.iface.index, 8);
      sock.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, join, 12);
    } catch (err) {
      const why = (err as Error).message;
      const hint = /permitted|permission/i.test(why) ? ' (VRRP needs a raw socket: run as root or with CAP_NET_RAW and CAP_NET_ADMIN)' : '';
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `vrrp: cannot open the VRRP socket on ${this.iface.name}: ${why}${hint}`, { cause: err });
    }
    sock.on('message', (buf) => this.receive(buf));
    sock.on('error', (err) => this.log(`socket error on ${this.iface.name}: ${err.message}`));
    // raw-socket closes the socket after an error: open another one.
    sock.on('close', () => {
      if (this.closed) return;
      setTimeout(() => {
        if (this.closed) return;
        try {
          this.sock = this.open();
          this.log(`socket on ${this.iface.name} reopened`);
        } catch (err) {
          this.log((err as Error).message);
        }
      }, 100).unref();
    });
    return sock;
  }

  private receive(buf: Buffer): void {
    try {
      const r = decodeIpv4Advert(buf);
      if (!r.ok) {
        this.drop(r.reason);
        return;
      }
      this.onAdvert(r.advert);
    } catch (err) {
      // A bug in a handler must not take the process down with it.
      this.log(`error handling an advertisement: ${(err as Error).stack ?? err}`);
    }
  }

  /**
   * Counts a dropped packet (decoding here, or a later check: unknown VRID, unknown
   * peer, our own), and reports the drops in one log line at most once a second.
   */
  drop(reason: DropReason): void {
    this.drops[reason]++;
    if (this.reportTimer !== null || reason === 'own') return;
    this.reportTimer = setTimeout(() => this.reportDrops(), 1000);
    this.reportTimer.unref();
  }

  private reportDrops(): void {
    this.reportTimer = null;
    const parts: string[] = [];
    let n = 0;
    for (const [k, v] of Object.entries(this.drops) as Array<[DropReason, number]>) {
      const d = v - this.reported[k];
      if (d > 0 && k !== 'own') parts.push(`${k} ${d}`);
      if (k !== 'own') n += d;
    }
    this.reported = { ...this.drops };
    if (n > 0) this.log(`dropped ${n} packet(s) on ${this.iface.name} in the last second: ${parts.join(', ')}`);
  }

  /** Sends a VRRP message from `source` to `destination` (224.0.0.18 or a peer) with TTL 255. */
  send(vrrp: Buffer, source: string, destination: string): void {
    if (this.closed) return;
    const pkt = encodeIpv4(vrrp, source, destination);
    this.pending++;
    this.sock.send(pkt, 0, pkt.length, destination, (err) => {
      if (err) this.log(`cannot send an advertisement to ${destination} on ${this.iface.name}: ${err.message}`);
      if (--this.pending === 0) this.drained?.();
    });
  }

  /** Closes the socket once what was queued (a last priority-0 advertisement) has been written, waiting 200 ms at most. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.closed = true;
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }
}

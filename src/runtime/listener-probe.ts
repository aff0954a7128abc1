/**
 * Whether a listener serves, asked as a client would: VRRP tracking and BGP announcement
 * conditions both use it.
 */
import net from 'node:net';

/** A listener as tracking sees it: its name, whether it is UDP, and its bound address. */
export interface TrackableListener {
  readonly name: string;
  readonly udp: boolean;
  address(): net.AddressInfo;
}

/**
 * Is a listener serving? TCP (http, redirect, tcp): a connection to it completes within
 * `timeoutMs` (a wildcard bind is reached on loopback). UDP: its socket is still bound.
 */
export function probeListener(l: TrackableListener, timeoutMs: number): boolean | Promise<boolean> {
  let addr: net.AddressInfo;
  try {
    addr = l.address();
  } catch {
    return false;
  }
  if (addr === null || typeof addr !== 'object') return false;
  if (l.udp) return true;
  const host = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '::1' : addr.address;
  return new Promise((resolve) => {
    const sock = net.connect({ host, port: addr.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * What Node's TLS handle (TLSWrap) tells that TLSSocket does not, while a handshake
 * fails: the server name the ClientHello asked for.
 */
import type net from 'node:net';

/** The server name `sock`'s ClientHello asked for; undefined when none, or when the handle cannot say. */
export function tlsServername(sock: net.Socket): string | undefined {
  const name = (sock as unknown as { _handle?: { getServername?: () => string | false } | null })._handle?.getServername?.();
  return typeof name === 'string' ? name : undefined;
}

/**
 * Decrypted reads of an accepted TLS socket through the shared READ_BUFFER, as plain
 * client sockets already read (read-buffer.ts): the socket's TLS handle is told to use
 * the buffer and net's `onread` fields are set on the socket, which is what net.Socket's
 * constructor does with the `onread` option (that TLSSocket only honours for sockets it
 * connects itself). Each read then reaches `callback` with the byte count, skipping a
 * Buffer allocation and the Readable stream machinery per TLS record.
 */
import type net from 'node:net';
import { READ_BUFFER } from './read-buffer.js';

type ReadCallback = (this: net.Socket, n: number, buf: Uint8Array) => boolean;

/** net's private symbols for onread (kBuffer, kBufferCb, kBufferGen), found once; null when not there. */
let symbols: { buffer: symbol; callback: symbol; gen: symbol } | null | undefined;

function onreadSymbols(sock: net.Socket): typeof symbols {
  if (symbols !== undefined) return symbols;
  const find = (name: string) => Object.getOwnPropertySymbols(sock).find((s) => s.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const gen = find('kBufferGen');
  symbols = buffer !== undefined && callback !== undefined && gen !== undefined ? { buffer, callback, gen } : null;
  return symbols;
}

/**
 * Switches a TLS socket (after its handshake) to shared-buffer reads into `callback`.
 * Returns false, changing nothing, when Node's internals are not as expected; the caller
 * then reads through 'data' events. Bytes already decrypted and buffered stay in the
 * socket: the caller drains them with `sock.read()`.
 */
export function readThroughSharedBuffer(sock: net.Socket, callback: ReadCallback): boolean {
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  const s = onreadSymbols(sock);
  if (s == null) return false;
  const o = sock as unknown as Record<symbol, unknown>;
  o[s.buffer] = READ_BUFFER;
  o[s.callback] = callback;
  o[s.gen] = null;
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * Sends the reads of a socket that already reads through the shared buffer (a plain
 * client socket, or a TLS one switched by readThroughSharedBuffer) to `callback` from
 * now on. Returns false, changing nothing, for a socket that reads through 'data' events.
 */
export function redirectSharedReads(sock: net.Socket, callback: ReadCallback): boolean {
  const s = onreadSymbols(sock);
  const o = sock as unknown as Record<symbol, unknown>;
  if (s == null || o[s.buffer] == null) return false;
  o[s.callback] = callback;
  return true;
}

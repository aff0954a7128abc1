/**
 * A NativeSocket as a stream.Duplex, for node:http2: an HTTP/2 connection whose TLS the
 * addon terminated is handed to the listener's http2 server through this (node:http2
 * wraps any Duplex that is not a libuv stream). Reads pause the socket while the
 * Duplex's buffer is full; a write waits for 'drain' before it calls back.
 */
import { Duplex } from 'node:stream';
import type { NativeSocket } from './native-socket.js';

export function duplexOf(sock: NativeSocket): Duplex {
  const duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      send(chunk, done);
    },
    // node:http2 corks around each batch of frames: one write (one TLS record) for all of them
    writev(chunks: Array<{ chunk: Buffer }>, done) {
      send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), done);
    },
    final(done) {
      sock.end();
      done();
    },
    destroy(err, done) {
      sock.destroy();
      done(err);
    },
  });
  function send(chunk: Buffer, done: (err?: Error | null) => void): void {
    if (sock.destroyed) {
      done(new Error('the connection is closed'));
      return;
    }
    if (sock.write(chunk)) {
      done();
      return;
    }
    if (sock.destroyed) {
      done(new Error('the connection is closed'));
      return;
    }
    const settle = () => {
      sock.off('drain', settle);
      sock.off('close', settle);
      done(sock.destroyed ? new Error('the connection is closed') : null);
    };
    sock.on('drain', settle);
    sock.on('close', settle);
  }
  sock.onData = (chunk) => {
    if (!duplex.push(chunk)) sock.pause();
  };
  sock.on('end', () => duplex.push(null));
  sock.on('error', (err: Error) => duplex.destroy(err));
  sock.on('close', () => duplex.destroy());
  for (const name of ['remoteAddress', 'remotePort', 'localAddress', 'localPort'] as const) {
    Object.defineProperty(duplex, name, { get: () => sock[name], enumerable: true });
  }
  return duplex;
}

/**
 * The byte stream under an HTTP/2 session: a client socket (the addon's NativeSocket, or
 * Node's net.Socket and tls.TLSSocket) wrapped in a stream.Duplex that node:http2 reads
 * and writes, so that every byte passes through JavaScript.
 *
 * That is what lets a session be closed when nghttp2 decides it is over. On a connection
 * error (DATA on stream 0, a bad HPACK block, a short SETTINGS frame, a rapid-reset or
 * other flood) nghttp2 sends GOAWAY and stops reading by itself; node:http2 emits nothing
 * and never closes the socket, so a connection left that way would sit in CLOSE-WAIT for
 * good. Here the outgoing frames are followed (frame headers only) and every GOAWAY is
 * reported, and so is the client's FIN, which a session that stopped reading would never
 * see.
 *
 * Reads pause the socket while the Duplex's buffer is full; a write waits for 'drain'
 * before it calls back; `end()` sends FIN after every byte written.
 */
import type net from 'node:net';
import { Duplex } from 'node:stream';
import type { NativeSocket } from '../../io/native-socket.js';
import { takeRead } from '../../io/read-buffer.js';
import { redirectSharedReads } from '../../io/read-buffer.js';

/** What the session learns from its bytes that node:http2 does not tell it. */
export interface TransportEvents {
  /** A GOAWAY frame was handed to the socket, with this error code. */
  goAwaySent(code: number): void;
  /** The client sent FIN: it will send nothing more. */
  peerEnded(): void;
}

const GOAWAY = 7;
const HEADER = 9;

/**
 * Follows a stream of HTTP/2 frames written by the server (no preface on that side) and
 * calls `onGoAway` with the error code of each GOAWAY. Costs one look at each frame
 * header; payloads are skipped, not read.
 */
export class FrameFollower {
  /** Payload bytes of the current frame still to pass. */
  private skip = 0;
  /** Header bytes (plus a GOAWAY's first 8 payload bytes) kept across writes. */
  private readonly part = Buffer.alloc(HEADER + 8);
  private have = 0;
  /** How many bytes of `part` make what is being collected: 9, or 17 for a GOAWAY. */
  private need = HEADER;

  constructor(private readonly onGoAway: (code: number) => void) {}

  /** Whether the bytes so far end on a frame boundary (a frame may be written here). */
  get atBoundary(): boolean {
    return this.skip === 0 && this.have === 0;
  }

  /** Takes the next bytes written. */
  scan(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i);
        this.skip -= k;
        i += k;
        continue;
      }
      if (this.have === 0 && i + HEADER <= n && chunk[i + 3] !== GOAWAY) {
        // the usual case: a whole header that is not a GOAWAY
        this.skip = (chunk[i]! << 16) | (chunk[i + 1]! << 8) | chunk[i + 2]!;
        i += HEADER;
        continue;
      }
      const k = Math.min(this.need - this.have, n - i);
      this.part.set(chunk.subarray(i, i + k), this.have);
      this.have += k;
      i += k;
      if (this.have < this.need) return;
      const length = this.part.readUIntBE(0, 3);
      if (this.need === HEADER && this.part[3] === GOAWAY && length >= 8) {
        this.need = HEADER + 8;
        continue;
      }
      if (this.need === HEADER + 8) {
        this.skip = length - 8;
        this.onGoAway(this.part.readUInt32BE(HEADER + 4));
      } else {
        this.skip = length;
      }
      this.have = 0;
      this.need = HEADER;
    }
  }
}

/** What the Duplex needs of a socket; NativeSocket and net.Socket both have it. */
type ClientSocket = NativeSocket | net.Socket;

/**
 * The Duplex node:http2 runs a session on. `events` is filled in by the session once it
 * exists (node:http2 makes it synchronously from the Duplex).
 */
export class H2Transport {
  readonly duplex: Duplex;
  events: TransportEvents | null = null;
  /** A GOAWAY has gone out. */
  private goAwayWritten = false;
  /** The GOAWAY to write before FIN if node:http2 did not write one (see goAwayBeforeEnd). */
  private lastWord: Buffer | null = null;
  private readonly frames = new FrameFollower((code) => {
    this.goAwayWritten = true;
    this.events?.goAwaySent(code);
  });

  /** `head`: bytes already read from `sock` that the session must see first. */
  constructor(
    readonly sock: ClientSocket,
    head: Buffer | null = null,
  ) {
    const transport = this;
    const duplex = new Duplex({
      allowHalfOpen: true,
      read() {
        sock.resume();
      },
      write(chunk: Buffer, _encoding, done) {
        transport.send(chunk, done);
      },
      // node:http2 corks around each batch of frames: one write (one TLS record) for all of them
      writev(chunks: Array<{ chunk: Buffer }>, done) {
        transport.send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), done);
      },
      final(done) {
        const word = transport.lastWord;
        if (word !== null && !transport.goAwayWritten && transport.frames.atBoundary && !sock.destroyed) sock.write(word);
        // Node's sockets drop unwritten bytes on destroy, which node:http2 calls right
        // after this: wait until the last frame (a GOAWAY) is handed to the kernel
        if (isNative(sock)) {
          sock.end();
          done();
        } else sock.end(() => done());
      },
      destroy(err, done) {
        sock.destroy();
        done(err);
      },
    });
    this.duplex = duplex;
    if (head !== null && head.length > 0) duplex.push(head);
    const push = (chunk: Buffer) => {
      if (!duplex.push(chunk)) sock.pause();
    };
    if (isNative(sock)) sock.onData = push;
    else if (!redirectSharedReads(sock, (n) => (push(takeRead(n)), true))) sock.on('data', push);
    sock.on('end', () => {
      duplex.push(null);
      this.events?.peerEnded();
    });
    sock.on('error', (err: Error) => duplex.destroy(err));
    sock.on('close', () => duplex.destroy());
    for (const name of ['remoteAddress', 'remotePort', 'localAddress', 'localPort'] as const) {
      Object.defineProperty(duplex, name, { get: () => sock[name], enumerable: true });
    }
  }

  /**
   * The session is being destroyed with this error code. node:http2 submits a GOAWAY
   * for it, but drops it when a write is still in progress on a JavaScript stream (its
   * writes complete a tick later), so the client would see a bare FIN. If no GOAWAY has
   * gone out by the time the session ends the stream, this one is written first.
   */
  goAwayBeforeEnd(code: number, lastStreamId: number): void {
    const f = Buffer.alloc(HEADER + 8);
    f.writeUIntBE(8, 0, 3);
    f[3] = GOAWAY;
    f.writeUInt32BE(lastStreamId & 0x7fffffff, HEADER);
    f.writeUInt32BE(code, HEADER + 4);
    this.lastWord = f;
  }

  private send(chunk: Buffer, done: (err?: Error | null) => void): void {
    const sock = this.sock;
    if (sock.destroyed) {
      done(new Error('the connection is closed'));
      return;
    }
    this.frames.scan(chunk);
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
}

function isNative(sock: ClientSocket): sock is NativeSocket {
  return 'onData' in sock;
}

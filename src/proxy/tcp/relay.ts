/**
 * The byte pump of a TCP connection pair: client <-> server over two libuv handles
 * (io/tcp-handles.ts), with backpressure, half-close in both directions, and two kinds of read
 * buffer.
 *
 * - Every handle starts reading into one shared 64 KiB buffer (like the HTTP engine's
 *   READ_BUFFER). A read there is copied into a right-sized Buffer before it is
 *   written, because a write libuv cannot finish at once keeps pointing into its bytes
 *   and the next read of any socket would overwrite them.
 * - A read of at least PROMOTE_BYTES says the direction is carrying bulk data: its
 *   next reads go into a private buffer (onread returns it), written without a copy.
 *   While such a write is pending the source stops reading, so the buffer is never
 *   overwritten under libuv, and a small synchronous read hands it back to a free list.
 *   Idle connections therefore cost no buffer at all, and bulk transfer no copy.
 *
 * Backpressure: when a write does not complete synchronously the source side stops
 * reading until it has (at most one read's worth is in flight per direction). Half
 * close: EOF from one side becomes a shutdown (FIN) of the other's write side after
 * its queued writes; the pair closes when both directions have ended and every write
 * is out (a close then sends whatever FIN is still owed), or at once on a reset (passed
 * on to the other peer as a reset), a write error or the idle timeout. Nothing here throws out of a libuv
 * callback: an unexpected exception closes the pair.
 */
import { loadHandles } from '../../io/internals.js';
import { errName, UV_EOF, UV_ENOTCONN } from '../../io/uv.js';
import { type Handles, type ShutdownRequest, type TcpHandle, type WriteRequest } from '../../io/tcp-handles.js';

/** Size of the shared read buffer every handle starts with. */
export const SHARED_READ_BYTES = 64 * 1024;
/** A read at least this large moves its direction to a private buffer. */
export const PROMOTE_BYTES = 32 * 1024;
/** A private buffer goes back to the free list after a synchronous read smaller than this. */
export const DEMOTE_BYTES = 4 * 1024;
/** Size of a private (bulk) read buffer: one read and one write syscall move up to this much. */
export const PRIVATE_READ_BYTES = 256 * 1024;
/** At most this many private buffers exist at once (64 MiB); past it, bulk reads are copied. */
export const MAX_PRIVATE_BUFFERS = 256;
/** Idle private buffers kept for reuse. */
const FREE_LIST_MAX = 16;

const SHARED: Buffer = Buffer.allocUnsafe(SHARED_READ_BYTES);
const freeList: Buffer[] = [];
let privateCount = 0;

function takePrivate(): Buffer | null {
  const b = freeList.pop();
  if (b !== undefined) return b;
  if (privateCount >= MAX_PRIVATE_BUFFERS) return null;
  privateCount++;
  return Buffer.allocUnsafe(PRIVATE_READ_BYTES);
}

function givePrivate(b: Buffer): void {
  if (freeList.length < FREE_LIST_MAX) freeList.push(b);
  else privateCount--;
}

/** A private buffer that a cancelled write may still point into: left to the GC. */
function dropPrivate(): void {
  privateCount--;
}

/** Private read buffers in existence (in use or free), for tests and diagnostics. */
export function privateBuffersInUse(): number {
  return privateCount - freeList.length;
}

/** The shared read buffer; handles in a prelude phase read into it too. */
export function sharedReadBuffer(): Buffer {
  return SHARED;
}

/**
 * Why a relay ended: both ways finished, the idle timeout, an I/O error on the client's
 * or the server's socket (a reset, a broken pipe), the listener stopping, or a bug.
 */
export type RelayEnd = 'done' | 'idle' | 'client-reset' | 'server-reset' | 'shutdown' | 'internal-error';

/** What a relay reports to: the connection, which keeps the counters and the server accounting. */
export interface RelayOwner {
  /** Bytes read from the client (and written to the server). */
  bytesIn: number;
  /** Bytes read from the server (and written to the client). */
  bytesOut: number;
  /** Date.now() of the last read either way. */
  lastActivity: number;
  /** Called once, after both handles are closed. */
  relayEnded(reason: RelayEnd, detail: string): void;
}

/** One socket of the pair. */
class Side {
  /** Where the handle's next read goes: SHARED or a private buffer. */
  buf: Buffer = SHARED;
  reading = false;
  /** EOF read from this socket. */
  eof = false;
  /** Shutdown (FIN) of this socket's write side requested. */
  shutSent = false;
  /** Writes into this socket libuv has not finished. */
  pending = 0;
  peer!: Side;

  constructor(
    readonly relay: Relay,
    readonly handle: TcpHandle,
    readonly isClient: boolean,
  ) {
    handle.owner = this;
  }
}

let H: Handles;
/** A write request object that was never handed to libuv, reused for the next write. */
let spareWrite: WriteRequest | null = null;
/** A zero-length write: see Relay.eof. */
const NOTHING = Buffer.alloc(0);

/**
 * Relays bytes between an accepted client handle and a connected server handle. Create
 * it once the server connection is up, then call `start()`. Costs two small objects per
 * pair beyond the handles.
 */
export class Relay {
  private readonly client: Side;
  private readonly server: Side;
  private closed = false;

  constructor(
    private readonly owner: RelayOwner,
    clientHandle: TcpHandle,
    serverHandle: TcpHandle,
  ) {
    H ??= loadHandles()!;
    this.client = new Side(this, clientHandle, true);
    this.server = new Side(this, serverHandle, false);
    this.client.peer = this.server;
    this.server.peer = this.client;
  }

  /**
   * Sends `first` (PROXY header and the bytes read before connecting, or null) to the
   * server, then reads both ways. The client handle must already read into the shared
   * buffer (useUserBuffer); the server handle is set up here.
   */
  start(first: Uint8Array | null): void {
    const c = this.client;
    const s = this.server;
    s.handle.useUserBuffer(SHARED);
    s.handle.onread = onRelayRead;
    c.handle.onread = onRelayRead;
    if (first !== null && first.length > 0) {
      if (this.write(s, first) < 0) return;
    }
    if (s.pending === 0) this.startReading(c);
    this.startReading(s);
  }

  /** Closes both sockets now (idle timeout, listener stop); `relayEnded` follows. */
  close(reason: RelayEnd, detail = ''): void {
    if (this.closed) return;
    this.closed = true;
    // A reset on one side is passed on as a reset, so the other peer cannot mistake an
    // aborted transfer for a complete one; everything else closes gracefully (FIN).
    const resetSide = reason === 'server-reset' ? this.client : reason === 'client-reset' ? this.server : null;
    for (const side of [this.client, this.server]) {
      side.reading = false;
      // libuv refuses a reset after a shutdown (and Node then never closes the handle),
      // so a side whose FIN is already on its way is closed instead.
      if (side === resetSide && !side.shutSent && side.handle.reset !== undefined) side.handle.reset();
      else side.handle.close();
      // A pending write still points into a private buffer: let it go to the GC instead.
      if (side.buf !== SHARED) {
        if (side.peer.pending === 0) givePrivate(side.buf);
        else dropPrivate();
      }
      side.buf = SHARED;
    }
    this.owner.relayEnded(reason, detail);
  }

  /** A read of `n` bytes landed in `from.buf`; returns the buffer for the next read when it changes. */
  data(from: Side, n: number): Buffer | undefined {
    const owner = this.owner;
    owner.lastActivity = Date.now();
    if (from.isClient) owner.bytesIn += n;
    else owner.bytesOut += n;
    const buf = from.buf;
    let next: Buffer | undefined;
    let chunk: Uint8Array;
    if (buf === SHARED) {
      chunk = Buffer.allocUnsafe(n);
      SHARED.copy(chunk, 0, 0, n);
      if (n >= PROMOTE_BYTES) {
        const priv = takePrivate();
        if (priv !== null) next = from.buf = priv;
      }
    } else {
      chunk = buf.subarray(0, n);
    }
    const r = this.write(from.peer, chunk);
    if (r < 0) return next;
    if (r > 0) {
      // Pending: stop reading until it completes (afterWrite resumes), which also keeps
      // a private buffer untouched while libuv points into it.
      from.reading = false;
      from.handle.readStop();
    } else if (buf !== SHARED && n < DEMOTE_BYTES) {
      givePrivate(buf);
      next = from.buf = SHARED;
    }
    return next;
  }

  /** EOF from `from`: pass the FIN on once its bytes are written, or finish. */
  eof(from: Side): void {
    // libuv reports a reset that arrives together with unread data as an end of stream
    // (a partial read with POLLHUP). A zero-length write tells the two apart: a reset
    // socket refuses it, one the peer closed with a FIN takes it. Only while nothing is
    // queued to that socket and no FIN of ours went to it (a write fails then anyway).
    if (from.pending === 0 && !from.shutSent) {
      const err = this.probe(from);
      if (err < 0) {
        this.readError(from, err);
        return;
      }
    }
    from.eof = true;
    from.reading = false;
    const to = from.peer;
    // Both ways have ended and nothing is queued: close now. Closing a socket whose
    // input is drained sends its FIN, so the shutdown round trip is not needed (as
    // HAProxy does; it saves two syscalls per short connection).
    if (to.eof && to.pending === 0 && from.pending === 0) {
      this.close('done');
      return;
    }
    this.shutdown(to);
  }

  /** A read error (reset) on `from`. */
  readError(from: Side, code: number): void {
    this.close(from.isClient ? 'client-reset' : 'server-reset', `read: ${errName(code)}`);
  }

  /** libuv finished a pending write into `to`. */
  afterWrite(to: Side, status: number): void {
    to.pending--;
    if (this.closed) return;
    if (status < 0) {
      this.close(to.isClient ? 'client-reset' : 'server-reset', `write: ${errName(status)}`);
      return;
    }
    const from = to.peer;
    if (to.pending !== 0) return;
    if (!from.eof) {
      if (!from.reading) this.startReading(from);
    } else {
      this.maybeDone();
    }
  }

  afterShutdown(side: Side, status: number): void {
    if (this.closed) return;
    if (status < 0 && status !== UV_ENOTCONN) {
      this.close(side.isClient ? 'client-reset' : 'server-reset', `shutdown: ${errName(status)}`);
      return;
    }
    this.maybeDone();
  }

  /** Something threw inside a callback: close rather than crash. */
  internalError(err: unknown): void {
    this.close('internal-error', err instanceof Error ? err.message : String(err));
  }

  /** Both ways have ended and every write is out: close. */
  private maybeDone(): void {
    const c = this.client;
    const s = this.server;
    if (c.eof && s.eof && c.pending === 0 && s.pending === 0) this.close('done');
  }

  private startReading(side: Side): void {
    if (this.closed) return;
    side.reading = true;
    const err = side.handle.readStart();
    if (err < 0) this.readError(side, err);
  }

  /** Writes `chunk` into `to`: 0 written, 1 pending, < 0 failed (and the pair closed). */
  private write(to: Side, chunk: Uint8Array): number {
    const req = spareWrite ?? H.newWrite();
    spareWrite = null;
    req.handle = to.handle;
    req.oncomplete = afterWrite;
    req.side = to;
    req.buffer = chunk;
    const err = to.handle.writeBuffer(req, chunk);
    if (err < 0) {
      this.close(to.isClient ? 'client-reset' : 'server-reset', `write: ${errName(err)}`);
      return err;
    }
    if (H.state[H.LAST_WRITE_WAS_ASYNC] !== 0) {
      to.pending++;
      return 1;
    }
    req.buffer = null;
    req.side = null;
    req.handle = null;
    spareWrite = req;
    return 0;
  }

  /** Writes nothing to `side`: 0, or the error a reset socket reports. */
  private probe(side: Side): number {
    const req = spareWrite ?? H.newWrite();
    spareWrite = null;
    const err = side.handle.writeBuffer(req, NOTHING);
    spareWrite = req; // nothing to write: it never stays with libuv
    return err;
  }

  private shutdown(side: Side): void {
    if (side.shutSent) return;
    side.shutSent = true;
    const req = H.newShutdown();
    req.handle = side.handle;
    req.oncomplete = afterShutdown;
    req.side = side;
    const err = side.handle.shutdown(req);
    if (err === 1 || err === UV_ENOTCONN) {
      this.maybeDone();
    } else if (err < 0) {
      this.close(side.isClient ? 'client-reset' : 'server-reset', `shutdown: ${errName(err)}`);
    }
  }
}

function onRelayRead(this: TcpHandle): Uint8Array | undefined {
  const side = this.owner as Side;
  const relay = side.relay;
  const n = H.state[H.READ_BYTES]!;
  try {
    if (n > 0) return relay.data(side, n);
    if (n === UV_EOF) relay.eof(side);
    else if (n < 0) relay.readError(side, n);
  } catch (err) {
    relay.internalError(err);
  }
  return undefined;
}

function afterWrite(this: WriteRequest, status: number): void {
  const side = this.side as Side;
  this.buffer = null;
  this.side = null;
  try {
    side.relay.afterWrite(side, status);
  } catch (err) {
    side.relay.internalError(err);
  }
}

function afterShutdown(this: ShutdownRequest, status: number): void {
  const side = this.side as Side;
  this.side = null;
  try {
    side.relay.afterShutdown(side, status);
  } catch (err) {
    side.relay.internalError(err);
  }
}

/**
 * The streaming gzip or brotli encoder of one response body (node:zlib, on libuv's
 * thread pool, so a large body or a high brotli quality never stalls the worker's other
 * connections). Never holds the whole body: bytes go in as the server sends them and
 * come out framed for the client's wire.
 *
 * Flushing: everything read from the server in one turn of the event loop is written
 * to zlib as one piece with a sync flush (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH), so
 * what the server sent is on its way to the client as soon as it is compressed: an SSE
 * event or a streamed chunk is never held back waiting for more. The alternative, a
 * flush when the server goes idle, needs a timer per response and still delays each
 * event by the idle time. A flush costs about 5 bytes and ends a deflate block, which on
 * socket-sized reads (16-64 KiB) loses under 1% of the ratio; the window (the
 * dictionary) is kept across flushes.
 */
import { constants, createBrotliCompress, createGzip, type BrotliCompress, type Gzip } from 'node:zlib';
import type { Coding } from './compress.js';

/** What the encoder reports to (the exchange). */
export interface EncoderOwner {
  /** Compressed bytes, framed for the client (a chunk on HTTP/1.1 when chunked). */
  encoded(data: Buffer): void;
  /** The body is complete: its last bytes (framed, with the last chunk when chunked), or null when none are left. */
  encodedEnd(last: Buffer | null): void;
  /** zlib holds more than its buffer: stop reading the server until encoderDrained. */
  encoderFull(): void;
  /** The encoder took what it held: the server may be read again. */
  encoderDrained(): void;
  /** zlib failed (out of memory): the response cannot be completed. */
  encoderFailed(err: Error): void;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/**
 * zlib's output buffer (Node's default): a 64 KiB one, meant to take a whole read's
 * output at once, cost ~15% more CPU per 100 KB response in bench runs (a large external
 * allocation per response), while text compresses 4-10x, so 16 KiB seldom splits a read.
 */
const CHUNK_SIZE = 16 * 1024;

/** A zlib stream that outlives one response: its listeners call whichever encoder holds it. */
interface Engine {
  readonly zs: Gzip | BrotliCompress;
  readonly key: string;
  /** gzip: reset() starts a new member (Node documents reset() for deflate and inflate only). */
  readonly gzip: Gzip | null;
  user: ResponseEncoder | null;
}

/**
 * Idle gzip streams by level, reset after each response and taken by the next: creating
 * one per response (a Transform stream, a zlib handle and its ~256 KiB of state) cost
 * 12-20% more CPU per 100 KB response than reusing one in a zlib micro-benchmark, and
 * 4-15% of the whole proxy's CPU under wrk. Brotli streams are made per response.
 */
const idle = new Map<string, Engine[]>();
/** Idle streams kept per coding and level (each holds zlib's state: ~300 KiB for gzip). */
const MAX_IDLE = 8;

function takeEngine(coding: Coding, level: number): Engine {
  const key = `${coding}${level}`;
  const engine = idle.get(key)?.pop();
  if (engine !== undefined) return engine;
  const gzip = coding === 'gzip' ? createGzip({ level, flush: constants.Z_SYNC_FLUSH, chunkSize: CHUNK_SIZE }) : null;
  const zs = gzip ?? createBrotliCompress({ flush: constants.BROTLI_OPERATION_FLUSH, chunkSize: CHUNK_SIZE, params: { [constants.BROTLI_PARAM_QUALITY]: level, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } });
  const e: Engine = { zs, key, gzip, user: null };
  zs.on('data', (d: Buffer) => e.user?.output(d));
  zs.on('drain', () => e.user?.drained());
  zs.on('error', (err: Error) => e.user?.failed(err));
  return e;
}

/** A stream whose response ended cleanly goes back (reset) for the next one. */
function returnEngine(e: Engine): void {
  e.user = null;
  const list = idle.get(e.key) ?? [];
  if (e.gzip === null || list.length >= MAX_IDLE) {
    e.zs.destroy();
    return;
  }
  // at run time Gzip has Zlib's reset() (deflateReset: a new member, header and all); @types/node lists it for Deflate only
  (e.gzip as unknown as { reset(): void }).reset();
  list.push(e);
  idle.set(e.key, list);
}

export class ResponseEncoder {
  private engine: Engine | null;
  /** Input of the current event-loop turn, written as one piece at its end. */
  private pending: Buffer[] = [];
  private scheduled = false;
  private ending = false;
  /** Output after end(): sent with the end. */
  private tail: Buffer[] = [];
  private owner: EncoderOwner | null;
  private readonly finish: number;

  /**
   * @param chunked frame the output as HTTP/1.1 chunks (else it goes as it is: HTTP/2
   *   DATA frames, or an HTTP/1.1 body that ends with the connection)
   */
  constructor(coding: Coding, level: number, private readonly chunked: boolean, owner: EncoderOwner) {
    this.owner = owner;
    this.engine = takeEngine(coding, level);
    this.engine.user = this;
    this.finish = coding === 'gzip' ? constants.Z_FINISH : constants.BROTLI_OPERATION_FINISH;
  }

  /** The trailer section the last chunk carries (HTTP/1.1), given with end(). */
  private trailers = '';

  /** Body bytes from the server (decoded from chunked framing); `data` must stay unchanged until written. */
  write(data: Buffer): void {
    if (this.ending || this.owner === null) return;
    this.pending.push(data);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flushPending());
    }
  }

  /**
   * The body's end (with its last bytes): what is left comes out through encodedEnd.
   * `trailers`: the server's trailer section ("name: value" lines, each ended by CRLF or LF), which
   * the last HTTP/1.1 chunk carries on.
   */
  end(last: Buffer | null, trailers = ''): void {
    if (this.ending || this.owner === null) return;
    if (last !== null && last.length > 0) this.pending.push(last);
    this.ending = true;
    this.trailers = trailers;
    if (!this.scheduled) this.flushPending();
  }

  /** Stops: nothing more is reported (the exchange was abandoned); the stream is not reused. */
  destroy(): void {
    this.owner = null;
    this.pending = [];
    this.tail = [];
    const e = this.engine;
    this.engine = null;
    if (e !== null) {
      e.user = null;
      e.zs.destroy();
    }
  }

  /** Writes the turn's input as one piece, flushed; after end(), finished (the stream then stays open for reuse). */
  private flushPending(): void {
    this.scheduled = false;
    const e = this.engine;
    if (this.owner === null || e === null) return;
    const parts = this.pending;
    const piece = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (parts.length > 0) this.pending = [];
    const full = piece !== null && !e.zs.write(piece);
    if (this.ending) {
      // output reaches 'data' before this callback, or on a tick queued before it: finish after both
      e.zs.flush(this.finish, () => process.nextTick(() => this.finished()));
      return;
    }
    if (full) this.owner.encoderFull();
  }

  /** @internal the engine's output */
  output(d: Buffer): void {
    const owner = this.owner;
    if (owner === null || d.length === 0) return;
    if (this.ending) this.tail.push(d);
    else owner.encoded(this.chunked ? frame([d]) : d);
  }

  /** @internal the engine caught up */
  drained(): void {
    if (!this.ending) this.owner?.encoderDrained();
  }

  /** @internal zlib failed */
  failed(err: Error): void {
    const owner = this.owner;
    this.destroy();
    owner?.encoderFailed(err);
  }

  private finished(): void {
    const owner = this.owner;
    const e = this.engine;
    if (owner === null || e === null) return;
    this.owner = null;
    this.engine = null;
    returnEngine(e);
    const tail = this.tail;
    this.tail = [];
    let last: Buffer | null;
    if (this.chunked) {
      const end = this.trailers === '' ? LAST_CHUNK : Buffer.from(`0\r\n${this.trailers.replace(/\r?\n/g, '\r\n')}\r\n`, 'latin1');
      last = tail.length === 0 ? end : Buffer.concat([frame(tail), end]);
    }
    else last = tail.length === 0 ? null : tail.length === 1 ? tail[0]! : Buffer.concat(tail);
    owner.encodedEnd(last);
  }
}

/** One HTTP/1.1 chunk holding `parts`, in one buffer (one write). */
function frame(parts: Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  return Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`, 'latin1'), ...parts, CRLF]);
}

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

export class ResponseEncoder {
  private readonly zs: Gzip | BrotliCompress;
  /** Input of the current event-loop turn, written as one piece at its end. */
  private pending: Buffer[] = [];
  private scheduled = false;
  private ending = false;
  /** Output after end(): sent with the end. */
  private tail: Buffer[] = [];
  private owner: EncoderOwner | null;

  /**
   * @param chunked frame the output as HTTP/1.1 chunks (else it goes as it is: HTTP/2
   *   DATA frames, or an HTTP/1.1 body that ends with the connection)
   * @param sizeHint the body's length when known (brotli sizes its window by it), else -1
   */
  constructor(coding: Coding, level: number, private readonly chunked: boolean, sizeHint: number, owner: EncoderOwner) {
    this.owner = owner;
    if (coding === 'gzip') {
      this.zs = createGzip({ level, flush: constants.Z_SYNC_FLUSH, chunkSize: CHUNK_SIZE });
    } else {
      const params: Record<number, number> = { [constants.BROTLI_PARAM_QUALITY]: level, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT };
      if (sizeHint > 0) params[constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
      this.zs = createBrotliCompress({ flush: constants.BROTLI_OPERATION_FLUSH, chunkSize: CHUNK_SIZE, params });
    }
    const zs = this.zs;
    zs.on('data', (d: Buffer) => this.output(d));
    zs.on('end', () => this.finished());
    zs.on('drain', () => this.owner?.encoderDrained());
    zs.on('error', (err: Error) => {
      const owner = this.owner;
      this.destroy();
      owner?.encoderFailed(err);
    });
  }

  /** Body bytes from the server (decoded from chunked framing); `data` must stay unchanged until written. */
  write(data: Buffer): void {
    if (this.ending || this.owner === null) return;
    this.pending.push(data);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flushPending());
    }
  }

  /** The body's end (with its last bytes): what is left comes out through encodedEnd. */
  end(last: Buffer | null): void {
    if (this.ending || this.owner === null) return;
    if (last !== null && last.length > 0) this.pending.push(last);
    this.ending = true;
    if (!this.scheduled) this.flushPending();
  }

  /** Stops: nothing more is reported (the exchange was abandoned). */
  destroy(): void {
    this.owner = null;
    this.pending = [];
    this.tail = [];
    this.zs.destroy();
  }

  /** Writes the turn's input as one piece, flushed (or finished, after end()). */
  private flushPending(): void {
    this.scheduled = false;
    if (this.owner === null) return;
    const parts = this.pending;
    const piece = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (parts.length > 0) this.pending = [];
    if (this.ending) {
      if (piece === null) this.zs.end();
      else this.zs.end(piece);
      return;
    }
    if (piece !== null && !this.zs.write(piece)) this.owner.encoderFull();
  }

  private output(d: Buffer): void {
    const owner = this.owner;
    if (owner === null || d.length === 0) return;
    if (this.ending) this.tail.push(d);
    else owner.encoded(this.chunked ? frame([d]) : d);
  }

  private finished(): void {
    const owner = this.owner;
    if (owner === null) return;
    this.owner = null;
    const tail = this.tail;
    this.tail = [];
    let last: Buffer | null;
    if (this.chunked) last = tail.length === 0 ? LAST_CHUNK : Buffer.concat([frame(tail), LAST_CHUNK]);
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

import { FIELD_VALUE, HEX } from './chars.js';
import { HttpParseError } from './head.js';

const SIZE_START = 0;
const SIZE = 1;
const EXT = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER_LINE = 8;
const TRAILER_LF = 9;
const FINAL_LF = 10;
const DONE = 11;

/**
 * Incremental scanner for a chunked body (RFC 9112 §7.1). The proxy forwards chunked
 * bytes verbatim; this only finds where the body ends and rejects malformed framing,
 * so a smuggled second message can never hide inside a chunk. Costs O(framing bytes):
 * chunk data is skipped, not read.
 */
export class ChunkedScanner {
  private state = SIZE_START;
  private size = 0;
  private digits = 0;
  private trailerBytes = 0;
  /**
   * The trailer section's field lines as they came ("name: value" CRLF each), kept only
   * when scan() is given `data` (the body is de-framed for an HTTP/2 peer, which gets the
   * trailers as a HEADERS frame); '' otherwise.
   */
  trailerText = '';

  /**
   * @param bad status to report on malformed framing (400 for requests, 502 for responses)
   * @param maxTrailerBytes cap on the trailer section
   */
  constructor(
    private readonly bad: number,
    private readonly maxTrailerBytes: number,
  ) {}

  /** True once the last chunk and the trailer section have been seen. */
  get done(): boolean {
    return this.state === DONE;
  }

  /**
   * Scans buf[start, end). Returns the offset just past the body's final CRLF when the
   * body ends inside this range, or -1 when all of it belongs to the body. With `data`,
   * each run of chunk data is handed to it as a view into buf (HTTP/2 clients get the
   * body without the framing); without it, data is skipped unread.
   */
  scan(buf: Buffer, start: number, end: number, data?: (part: Buffer) => void): number {
    let i = start;
    let st = this.state;
    while (i < end) {
      const c = buf[i]!;
      switch (st) {
        case SIZE_START: {
          const h = HEX[c]!;
          if (h < 0) throw new HttpParseError(this.bad, 'invalid chunk size');
          this.size = h;
          this.digits = 1;
          st = SIZE;
          i++;
          break;
        }
        case SIZE: {
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.digits > 13) throw new HttpParseError(this.bad, 'chunk size too large');
            this.size = this.size * 16 + h;
          } else if (c === 0x0d) {
            st = SIZE_LF;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            st = EXT;
          } else {
            throw new HttpParseError(this.bad, 'invalid chunk size');
          }
          i++;
          break;
        }
        case EXT:
          if (c === 0x0d) st = SIZE_LF;
          else if (FIELD_VALUE[c] !== 1) throw new HttpParseError(this.bad, 'invalid chunk extension');
          i++;
          break;
        case SIZE_LF:
          if (c !== 0x0a) throw new HttpParseError(this.bad, 'missing LF after chunk size');
          st = this.size === 0 ? TRAILER_START : DATA;
          i++;
          break;
        case DATA: {
          const take = Math.min(this.size, end - i);
          if (data !== undefined) data(buf.subarray(i, i + take));
          this.size -= take;
          i += take;
          if (this.size === 0) st = DATA_CR;
          break;
        }
        case DATA_CR:
          if (c !== 0x0d) throw new HttpParseError(this.bad, 'missing CRLF after chunk data');
          st = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (c !== 0x0a) throw new HttpParseError(this.bad, 'missing CRLF after chunk data');
          st = SIZE_START;
          i++;
          break;
        case TRAILER_START:
          st = c === 0x0d ? FINAL_LF : TRAILER_LINE;
          if (st === TRAILER_LINE && (c === 0x20 || c === 0x09 || c === 0x0a)) {
            throw new HttpParseError(this.bad, 'malformed trailer section');
          }
          if (st === TRAILER_LINE && data !== undefined) this.trailerText += String.fromCharCode(c);
          i++;
          break;
        case TRAILER_LINE:
          if (++this.trailerBytes > this.maxTrailerBytes) throw new HttpParseError(this.bad, 'trailer section too large');
          if (c === 0x0d) st = TRAILER_LF;
          else if (FIELD_VALUE[c] !== 1) throw new HttpParseError(this.bad, 'invalid character in trailer');
          if (data !== undefined) this.trailerText += String.fromCharCode(c);
          i++;
          break;
        case TRAILER_LF:
          if (c !== 0x0a) throw new HttpParseError(this.bad, 'bare CR in trailer section');
          if (data !== undefined) this.trailerText += '\n';
          st = TRAILER_START;
          i++;
          break;
        case FINAL_LF:
          if (c !== 0x0a) throw new HttpParseError(this.bad, 'malformed end of chunked body');
          this.state = DONE;
          return i + 1;
        default:
          return i;
      }
    }
    this.state = st;
    return -1;
  }
}

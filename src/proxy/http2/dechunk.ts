/**
 * Incremental decoder of a chunked body (RFC 9112 section 7.1) for HTTP/2 clients, which
 * get the data without the framing. Same grammar and limits as the HTTP/1.1 engine's
 * ChunkedScanner (which only finds the end, since HTTP/1.1 clients get the framing as
 * is); trailer fields are read and dropped. Throws HttpParseError(502) on bad framing.
 */
import { FIELD_VALUE, HEX } from '../http/chars.js';
import { HttpParseError } from '../http/head.js';

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

export class ChunkedDecoder {
  private state = SIZE_START;
  private size = 0;
  private digits = 0;
  private trailerBytes = 0;

  constructor(private readonly maxTrailerBytes: number) {}

  /** True once the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.state === DONE;
  }

  /**
   * Decodes buf[start, end), passing each run of body data to `data` (views into buf).
   * Returns the offset just past the body when it ends inside the range, else -1.
   */
  decode(buf: Buffer, start: number, end: number, data: (part: Buffer) => void): number {
    let i = start;
    let st = this.state;
    const bad = (why: string): never => {
      throw new HttpParseError(502, why);
    };
    while (i < end) {
      const c = buf[i]!;
      switch (st) {
        case SIZE_START: {
          const h = HEX[c]!;
          if (h < 0) bad('invalid chunk size');
          this.size = h;
          this.digits = 1;
          st = SIZE;
          i++;
          break;
        }
        case SIZE: {
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.digits > 13) bad('chunk size too large');
            this.size = this.size * 16 + h;
          } else if (c === 0x0d) {
            st = SIZE_LF;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            st = EXT;
          } else {
            bad('invalid chunk size');
          }
          i++;
          break;
        }
        case EXT:
          if (c === 0x0d) st = SIZE_LF;
          else if (FIELD_VALUE[c] !== 1) bad('invalid chunk extension');
          i++;
          break;
        case SIZE_LF:
          if (c !== 0x0a) bad('missing LF after chunk size');
          st = this.size === 0 ? TRAILER_START : DATA;
          i++;
          break;
        case DATA: {
          const take = Math.min(this.size, end - i);
          data(buf.subarray(i, i + take));
          this.size -= take;
          i += take;
          if (this.size === 0) st = DATA_CR;
          break;
        }
        case DATA_CR:
          if (c !== 0x0d) bad('missing CRLF after chunk data');
          st = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (c !== 0x0a) bad('missing CRLF after chunk data');
          st = SIZE_START;
          i++;
          break;
        case TRAILER_START:
          st = c === 0x0d ? FINAL_LF : TRAILER_LINE;
          if (st === TRAILER_LINE && (c === 0x20 || c === 0x09 || c === 0x0a)) bad('malformed trailer section');
          i++;
          break;
        case TRAILER_LINE:
          if (++this.trailerBytes > this.maxTrailerBytes) bad('trailer section too large');
          if (c === 0x0d) st = TRAILER_LF;
          else if (FIELD_VALUE[c] !== 1) bad('invalid character in trailer');
          i++;
          break;
        case TRAILER_LF:
          if (c !== 0x0a) bad('bare CR in trailer section');
          st = TRAILER_START;
          i++;
          break;
        case FINAL_LF:
          if (c !== 0x0a) bad('malformed end of chunked body');
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

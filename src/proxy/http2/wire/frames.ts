/**
 * HTTP/2 frames (RFC 9113 section 4 and 6): types, flags, error codes and settings, and
 * writing frames into one buffer that goes to the socket in a single write. Reading is
 * the connection's (client-connection.ts): it parses frame headers in place.
 */

/** The client connection preface (RFC 9113 section 3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** The default and least SETTINGS_MAX_FRAME_SIZE. */
export const MIN_MAX_FRAME = 16_384;
/** The largest window (2^31 - 1). */
export const MAX_WINDOW = 0x7fffffff;
export const DEFAULT_WINDOW = 65_535;

export const enum Type {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const enum ErrorCode {
  NO_ERROR = 0,
  PROTOCOL_ERROR = 1,
  INTERNAL_ERROR = 2,
  FLOW_CONTROL_ERROR = 3,
  SETTINGS_TIMEOUT = 4,
  STREAM_CLOSED = 5,
  FRAME_SIZE_ERROR = 6,
  REFUSED_STREAM = 7,
  CANCEL = 8,
  COMPRESSION_ERROR = 9,
  CONNECT_ERROR = 10,
  ENHANCE_YOUR_CALM = 11,
  INADEQUATE_SECURITY = 12,
  HTTP_1_1_REQUIRED = 13,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 1,
  ENABLE_PUSH = 2,
  MAX_CONCURRENT_STREAMS = 3,
  INITIAL_WINDOW_SIZE = 4,
  MAX_FRAME_SIZE = 5,
  MAX_HEADER_LIST_SIZE = 6,
}

const ERROR_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** An error code's name (RFC 9113 section 7), or its number. */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** A protocol error of the connection: it sends GOAWAY with `code` and closes. */
export class ConnectionError extends Error {
  constructor(
    readonly h2code: number,
    message: string,
  ) {
    super(`HTTP/2 ${errorName(h2code)} from the server: ${message}`);
  }
}

/** Writes a frame header at `at`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream & 0x7fffffff, at + 5);
}

/**
 * Frames waiting to be written: small ones are built in one buffer, large payloads are
 * kept by reference; `take()` hands everything over for one write (or one corked batch).
 */
export class FrameWriter {
  private buf = Buffer.allocUnsafe(16 * 1024);
  private at = 0;
  /** Earlier parts (filled buffers and large payloads), in order. */
  private parts: Buffer[] = [];
  /** Bytes queued in all. */
  length = 0;

  /** Room for `n` bytes at the end of the buffer; returns it and where to write. */
  reserve(n: number): Buffer {
    if (this.at + n > this.buf.length) {
      if (this.at > 0) this.parts.push(this.buf.subarray(0, this.at));
      this.buf = Buffer.allocUnsafe(Math.max(16 * 1024, n));
      this.at = 0;
    }
    return this.buf;
  }

  /** Where the next reserved bytes go. */
  get offset(): number {
    return this.at;
  }

  /** `n` reserved bytes were written. */
  commit(n: number): void {
    this.at += n;
    this.length += n;
  }

  /** A frame with `payload` (a DATA frame's, say); payloads over 1 KiB are kept by reference, not copied. */
  frame(type: number, flags: number, stream: number, payload: Buffer | null, start = 0, end = payload === null ? 0 : payload.length): void {
    const n = end - start;
    const copy = n <= 1024;
    const out = this.reserve(FRAME_HEADER + (copy ? n : 0));
    writeFrameHeader(out, this.at, n, type, flags, stream);
    this.commit(FRAME_HEADER);
    if (n === 0) return;
    if (copy) {
      payload!.copy(out, this.at, start, end);
      this.commit(n);
      return;
    }
    if (this.at > 0) {
      this.parts.push(this.buf.subarray(0, this.at));
      this.buf = this.buf.subarray(this.at);
      this.at = 0;
    }
    this.parts.push(start === 0 && end === payload!.length ? payload! : payload!.subarray(start, end));
    this.length += n;
  }

  /**
   * Ends a header block encoded at buf[start + FRAME_HEADER, at) of the last reserve(): one
   * HEADERS frame when it fits the peer's frame size, else HEADERS and CONTINUATION frames
   * (the block is copied out first: rare).
   */
  headerBlock(start: number, at: number, stream: number, endStream: boolean, maxFrame: number): void {
    const len = at - start - FRAME_HEADER;
    const end = endStream ? Flag.END_STREAM : 0;
    if (len <= maxFrame) {
      writeFrameHeader(this.buf, start, len, Type.HEADERS, end | Flag.END_HEADERS, stream);
      this.commit(FRAME_HEADER + len);
      return;
    }
    const block = Buffer.from(this.buf.subarray(start + FRAME_HEADER, at));
    let off = 0;
    let type: number = Type.HEADERS;
    while (off < block.length) {
      const n = Math.min(maxFrame, block.length - off);
      const last = off + n === block.length;
      this.frame(type, (type === Type.HEADERS ? end : 0) | (last ? Flag.END_HEADERS : 0), stream, block, off, off + n);
      off += n;
      type = Type.CONTINUATION;
    }
  }

  /** A frame whose payload is a 32-bit value (WINDOW_UPDATE, RST_STREAM). */
  frame32(type: number, stream: number, value: number): void {
    const out = this.reserve(FRAME_HEADER + 4);
    writeFrameHeader(out, this.at, 4, type, 0, stream);
    out.writeUInt32BE(value >>> 0, this.at + FRAME_HEADER);
    this.commit(FRAME_HEADER + 4);
  }

  /** Everything queued, as buffers to write in order; the writer starts empty again. */
  take(): Buffer[] {
    const parts = this.parts;
    if (this.at > 0) {
      parts.push(this.buf.subarray(0, this.at));
      this.buf = this.buf.length - this.at >= 4096 ? this.buf.subarray(this.at) : Buffer.allocUnsafe(16 * 1024);
      this.at = 0;
    }
    this.parts = [];
    this.length = 0;
    return parts;
  }
}

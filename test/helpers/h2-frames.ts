/**
 * Raw HTTP/2 frames for the protocol-error tests: a client that writes frames byte by
 * byte (so it can write what no real client library would) and reads the server's
 * frames back. HPACK is used only as "literal without indexing, no Huffman", which every
 * decoder must accept (RFC 7541 section 6.2.2).
 */
import net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { LOOPBACK } from './ports.js';
import { WAIT_MS } from './wait.js';

/** The client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types. */
export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
/** Frame flags. */
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8 } as const;
/** Error codes (RST_STREAM, GOAWAY). */
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

/** One frame: 9-byte header and payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  if (b.length > 126) {
    // 7-bit prefix integer with continuation bytes
    const out = [0x7f];
    let n = b.length - 127;
    while (n >= 128) {
      out.push((n & 0x7f) | 0x80);
      n >>= 7;
    }
    out.push(n);
    return Buffer.concat([Buffer.from(out), b]);
  }
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** A header block of literal fields without indexing (new names). */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

/** A HEADERS frame (END_HEADERS, and END_STREAM unless `open`). */
export function headers(stream: number, fields: Array<[string, string]>, open = false): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (open ? 0 : FLAG.END_STREAM), stream, headerBlock(fields));
}

/** The fields of a plain GET for `path` on www.example.com. */
export function get(path: string, more: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', 'GET'], [':scheme', 'https'], [':authority', 'www.example.com'], [':path', path], ...more];
}

/** A frame as read back. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A connection that speaks raw frames: sends the preface and empty SETTINGS, collects what comes back. */
export class RawH2 {
  readonly frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }

  /** Opens a connection (TLS with ALPN h2, or h2c), destroyed after the test. */
  static async open(t: TestContext, port: number, h2c = false): Promise<RawH2> {
    const sock = h2c
      ? net.connect({ host: LOOPBACK, port })
      : tls.connect({ host: LOOPBACK, port, servername: 'www.example.com', ALPNProtocols: ['h2'], rejectUnauthorized: false });
    t.after(() => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      sock.once(h2c ? 'connect' : 'secureConnect', () => resolve());
      sock.once('error', reject);
    });
    const raw = new RawH2(sock);
    sock.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    await raw.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0, 'the server SETTINGS');
    sock.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    return raw;
  }

  send(...frames: Buffer[]): void {
    this.sock.write(Buffer.concat(frames));
  }

  /** The first frame (from now on or already received) matching `match`. */
  async waitFor(match: (f: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const f = this.frames.find(match);
      if (f !== undefined) return f;
      if (Date.now() > deadline) throw new Error(`no ${what} within ${WAIT_MS} ms; got frames ${JSON.stringify(this.frames.map((x) => [x.type, x.flags, x.stream]))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The error code of the GOAWAY the server sent. */
  async goaway(): Promise<number> {
    const f = await this.waitFor((x) => x.type === FRAME.GOAWAY, 'GOAWAY');
    return f.payload.readUInt32BE(4);
  }

  /** The error code of the RST_STREAM the server sent on `stream`. */
  async reset(stream: number): Promise<number> {
    const f = await this.waitFor((x) => x.type === FRAME.RST_STREAM && x.stream === stream, `RST_STREAM on stream ${stream}`);
    return f.payload.readUInt32BE(0);
  }

  /** Whether a HEADERS frame came back on `stream`. */
  answered(stream: number): boolean {
    return this.frames.some((f) => f.type === FRAME.HEADERS && f.stream === stream);
  }
}

/** A SETTINGS value the server announced (id per RFC 9113 section 6.5.2). */
export function setting(f: Frame, id: number): number | undefined {
  for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === id) return f.payload.readUInt32BE(i + 2);
  return undefined;
}

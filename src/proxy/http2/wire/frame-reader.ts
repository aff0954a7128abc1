/**
 * Cuts the bytes an HTTP/2 peer sends into frames, for both ends of Fulcrum's HTTP/2 (the
 * listener side, server-connection.ts, and the pools' client, h2-client.ts). Reads arrive
 * in a shared buffer (the addon's arena or the engine's read buffer), so frames are handed
 * over in place and only a partial frame left at the end of a read is copied, to be joined
 * with the next read. A frame longer than SETTINGS_MAX_FRAME_SIZE (we keep the default,
 * 16 KiB) is a connection error (RFC 9113 section 4.2).
 */
import { copyBytes } from '../../../io/read-buffer.js';
import { ConnectionError, ErrorCode, Flag, FRAME_HEADER, MIN_MAX_FRAME, Type } from './frames.js';

/**
 * One end of a connection as the reader sees it: a handler per frame type. Each payload
 * is buf[p, end) of a shared buffer: what a handler keeps, it copies.
 */
export interface FrameSink {
  /** The connection ended while a frame was handled: read no further. */
  readonly stopped: boolean;
  /** The peer's first SETTINGS has come (nothing else may come first). */
  readonly gotSettings: boolean;
  /** A header block is open: only its CONTINUATION frames may come next. */
  readonly inHeaderBlock: boolean;
  onData(flags: number, id: number, buf: Buffer, p: number, end: number): void;
  onHeaders(flags: number, id: number, buf: Buffer, p: number, end: number): void;
  onContinuation(flags: number, id: number, buf: Buffer, p: number, end: number): void;
  onRstStream(id: number, buf: Buffer, p: number, end: number): void;
  onSettings(flags: number, id: number, buf: Buffer, p: number, end: number): void;
  onPing(flags: number, id: number, buf: Buffer, p: number, end: number): void;
  onGoAway(id: number, buf: Buffer, p: number, end: number): void;
  onWindowUpdate(id: number, buf: Buffer, p: number, end: number): void;
  /**
   * PRIORITY (its stream and size checked here; `selfDependent` when it makes its stream
   * depend on itself, RFC 7540 section 5.3.1), PUSH_PROMISE, and types this end does not
   * know (RFC 9113 section 4.1: ignored).
   */
  onOtherFrame(type: number, id: number, selfDependent: boolean): void;
}

/** The payload of a frame that may be PADDED, without the padding: its end; throws when the padding does not fit. */
export function unpadded(flags: number, buf: Buffer, p: number, end: number): number {
  if ((flags & Flag.PADDED) === 0) return end;
  if (p >= end) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'a padded frame without its pad length');
  const pad = buf[p]!;
  if (pad >= end - p) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
  return end - pad;
}

export class FrameReader {
  /** The start of a frame that the last read cut short. */
  private leftover: Buffer | null = null;

  constructor(private readonly sink: FrameSink) {}

  /** Bytes read: buf[start, end). Throws ConnectionError (a frame too long) or what the sink throws. */
  read(buf: Buffer, start: number, end: number): void {
    const left = this.leftover;
    if (left === null) return this.frames(buf, start, end);
    this.leftover = null;
    const all = Buffer.allocUnsafe(left.length + end - start);
    left.copy(all, 0);
    buf.copy(all, left.length, start, end);
    this.frames(all, 0, all.length);
  }

  private frames(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (end - i >= FRAME_HEADER) {
      const len = (buf[i]! << 16) | (buf[i + 1]! << 8) | buf[i + 2]!;
      if (len > MIN_MAX_FRAME) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${len} bytes (the most is ${MIN_MAX_FRAME})`);
      if (end - i < FRAME_HEADER + len) break;
      const type = buf[i + 3]!;
      const flags = buf[i + 4]!;
      const id = buf.readUInt32BE(i + 5) & 0x7fffffff;
      const p = i + FRAME_HEADER;
      i = p + len;
      this.dispatch(type, flags, id, buf, p, i);
      if (this.sink.stopped) return;
    }
    if (i < end) this.leftover = copyBytes(buf, i, end);
  }

  private dispatch(type: number, flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const k = this.sink;
    if (k.inHeaderBlock && type !== Type.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a header block was cut by another frame');
    if (!k.gotSettings && type !== Type.SETTINGS) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame was not SETTINGS');
    switch (type) {
      case Type.DATA:
        return k.onData(flags, id, buf, p, end);
      case Type.HEADERS:
        return k.onHeaders(flags, id, buf, p, end);
      case Type.CONTINUATION:
        return k.onContinuation(flags, id, buf, p, end);
      case Type.RST_STREAM:
        return k.onRstStream(id, buf, p, end);
      case Type.SETTINGS:
        return k.onSettings(flags, id, buf, p, end);
      case Type.PING:
        return k.onPing(flags, id, buf, p, end);
      case Type.GOAWAY:
        return k.onGoAway(id, buf, p, end);
      case Type.WINDOW_UPDATE:
        return k.onWindowUpdate(id, buf, p, end);
      case Type.PRIORITY:
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (end - p !== 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY of a wrong size');
        return k.onOtherFrame(type, id, (buf.readUInt32BE(p) & 0x7fffffff) === id);
      default:
        return k.onOtherFrame(type, id, false);
    }
  }
}

/**
 * The connection-level frames both ends of Fulcrum's HTTP/2 read the same way: SETTINGS,
 * PING and WINDOW_UPDATE (RFC 9113 sections 6.5, 6.7, 6.9). Each function checks a frame
 * and throws ConnectionError for what the RFC makes a connection error; what an end then
 * does (acknowledge, resume streams, count a flood budget) stays with that end.
 */
import { ConnectionError, ErrorCode, Flag, MAX_WINDOW, MIN_MAX_FRAME, Setting } from './frames.js';

/** The values one SETTINGS frame sets, -1 for those it leaves alone (unknown settings are ignored). */
export interface PeerSettings {
  headerTableSize: number;
  maxConcurrent: number;
  initialWindow: number;
  maxFrame: number;
}

/** A stream whose send window follows SETTINGS_INITIAL_WINDOW_SIZE. */
export interface SendWindow {
  sendWindow: number;
}

/**
 * A SETTINGS frame: null for an acknowledgement, else the values it sets (the last
 * wins when one repeats). Throws on a stream id, an ACK with a payload, a size not a
 * multiple of 6, or a value out of range.
 */
export function readSettings(flags: number, id: number, buf: Buffer, p: number, end: number): PeerSettings | null {
  if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
  if ((flags & Flag.ACK) !== 0) {
    if (end !== p) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
    return null;
  }
  if ((end - p) % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size');
  const s: PeerSettings = { headerTableSize: -1, maxConcurrent: -1, initialWindow: -1, maxFrame: -1 };
  for (let i = p; i < end; i += 6) {
    const value = buf.readUInt32BE(i + 2);
    switch (buf.readUInt16BE(i)) {
      case Setting.HEADER_TABLE_SIZE:
        s.headerTableSize = value;
        break;
      case Setting.ENABLE_PUSH:
        if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        s.maxConcurrent = value;
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1');
        s.initialWindow = value;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < MIN_MAX_FRAME || value > 0xffffff) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
        s.maxFrame = value;
        break;
      default:
        break;
    }
  }
  return s;
}

/**
 * A new SETTINGS_INITIAL_WINDOW_SIZE moves every open stream's send window by the
 * difference (RFC 9113 section 6.9.2); returns it. Throws when a window passes 2^31-1.
 */
export function moveWindows(streams: Iterable<SendWindow>, from: number, to: number): number {
  const delta = to - from;
  for (const s of streams) {
    s.sendWindow += delta;
    if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window over 2^31-1');
  }
  return delta;
}

/** A PING: throws on a stream id or a payload other than 8 bytes; true for an acknowledgement. */
export function readPing(flags: number, id: number, p: number, end: number): boolean {
  if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
  if (end - p !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING of a wrong size');
  return (flags & Flag.ACK) !== 0;
}

/**
 * A WINDOW_UPDATE: its increment. Throws on a wrong size, and for the connection (stream
 * 0) on an increment of 0; a stream's 0 is a stream error the caller answers.
 */
export function windowIncrement(id: number, buf: Buffer, p: number, end: number): number {
  if (end - p !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
  const inc = buf.readUInt32BE(p) & 0x7fffffff;
  if (id === 0 && inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
  return inc;
}

/** The connection's send window after an increment; throws past 2^31-1. */
export function growConnectionWindow(window: number, inc: number): number {
  const w = window + inc;
  if (w > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the connection window over 2^31-1');
  return w;
}

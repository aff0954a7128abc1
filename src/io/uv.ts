/**
 * libuv's error codes as Node's handles and the native addon report them (negative
 * errno on Unix), and their names for log lines.
 */
import os from 'node:os';
import { getSystemErrorName } from 'node:util';

/** libuv's end-of-stream code (same on every Unix and on Windows). */
export const UV_EOF = -4095;
/** libuv's "operation canceled", reported for requests pending when a handle closes. */
export const UV_ECANCELED = process.platform === 'win32' ? -4081 : -(os.constants.errno.ECANCELED ?? 125);
/** libuv's "socket is not connected" (a shutdown after the peer reset). */
export const UV_ENOTCONN = process.platform === 'win32' ? -4053 : -(os.constants.errno.ENOTCONN ?? 107);

/** "ECONNRESET" for a libuv error code. */
export function errName(code: number): string {
  if (code === UV_EOF) return 'EOF';
  try {
    return getSystemErrorName(code);
  } catch {
    return `error ${code}`;
  }
}

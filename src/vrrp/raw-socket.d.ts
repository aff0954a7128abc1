/** The part of the `raw-socket` package (CommonJS, no types of its own) that socket.ts uses. */
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';

  export interface RawSocket extends EventEmitter {
    /** Queues a datagram; `done` runs once it was written (or failed). */
    send(buf: Buffer, offset: number, length: number, address: string, done: (err: Error | null, bytes: number) => void): this;
    /** setsockopt with an integer value. */
    setOption(level: number, option: number, value: number): void;
    /** setsockopt with `length` bytes of `value`. */
    setOption(level: number, option: number, value: Buffer, length: number): void;
    close(): this;
    on(event: 'message', listener: (buf: Buffer, source: string) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export function createSocket(opts: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;

  const raw: { createSocket: typeof createSocket };
  export default raw;
}

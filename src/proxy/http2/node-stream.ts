/**
 * node:http2's server stream behind the H2Stream seam (FULCRUM_H2=node): events go to the
 * exchange through the shared listeners of client-events.ts.
 */
import type http2 from 'node:http2';
import { listenClient, ownerOf } from '../exchange/client-events.js';
import type { H2Stream, StreamEvents } from './h2-stream.js';
import { headersOf } from './headers.js';
import { fieldLines } from './upstream-headers.js';

export class NodeStream implements H2Stream {
  constructor(private readonly s: http2.ServerHttp2Stream) {}

  get headersSent(): boolean {
    return this.s.headersSent;
  }

  get closed(): boolean {
    return this.s.closed || this.s.destroyed;
  }

  get writableEnded(): boolean {
    return this.s.writableEnded || this.s.destroyed;
  }

  own(handler: StreamEvents): void {
    const s = this.s;
    listenClient(s, handler, !s.endAfterHeaders);
    s.on('trailers', onRequestTrailers);
  }

  respond(headers: http2.OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): void {
    this.s.respond(headers, { endStream, waitForTrailers });
    if (waitForTrailers) this.s.once('wantTrailers', onWantTrailers);
  }

  respondFields(status: number, names: readonly string[], values: readonly string[], endStream: boolean, waitForTrailers: boolean): void {
    this.respond(headersOf(status, names, values), endStream, waitForTrailers);
  }

  additionalHeaders(headers: http2.OutgoingHttpHeaders): void {
    this.s.additionalHeaders(headers);
  }

  write(data: Buffer): boolean {
    return this.s.write(data);
  }

  end(last: Buffer | null): void {
    if (this.s.destroyed) return;
    if (last === null) this.s.end();
    else this.s.end(last);
  }

  sendTrailers(headers: http2.OutgoingHttpHeaders): void {
    this.s.sendTrailers(headers);
  }

  close(code: number): void {
    this.s.close(code);
  }

  pause(): void {
    this.s.pause();
  }

  resume(): void {
    this.s.resume();
  }
}

// Shared listeners (no closure per stream).
function onWantTrailers(this: http2.ServerHttp2Stream): void {
  const x = ownerOf(this) as StreamEvents;
  try {
    x.wantTrailers();
  } catch (err) {
    x.onInternalError(err);
  }
}
function onRequestTrailers(this: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  (ownerOf(this) as StreamEvents).requestTrailers(fieldLines(headers, null));
}

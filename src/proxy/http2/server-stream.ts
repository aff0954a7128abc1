/**
 * One request stream of a ServerConnection (server-connection.ts), with the interface a
 * StreamExchange writes its response through (H2Stream). State only; the frames are the
 * connection's.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { H2Stream, StreamEvents } from './h2-stream.js';
import type { ServerConnection } from './server-connection.js';

export class ServerStream implements H2Stream {
  handler: StreamEvents | null = null;
  /** What the client may still send before our next WINDOW_UPDATE. */
  recvWindow: number;
  /** Body bytes taken and not yet returned to the client. */
  recvUnacked = 0;
  /** What we may still send (the client's window for this stream). */
  sendWindow: number;
  /** Body bytes waiting for window, and how far the first one is sent. */
  pending: Buffer[] = [];
  pendingOff = 0;
  pendingBytes = 0;
  /** end() came: END_STREAM (or trailers) goes after the pending bytes. */
  endQueued = false;
  /** respond() asked for trailers: the handler's wantTrailers() comes once the body is out. */
  trailersWanted = false;
  /** close(NO_ERROR) came while the response was still going out: RST_STREAM follows its end. */
  resetAfterEnd = false;
  /** A write returned false: the handler hears onClientDrain when it may write again. */
  wantDrain = false;
  /** On the connection's list of streams waiting for connection window. */
  blocked = false;
  paused = false;
  headersSent = false;
  /** We sent END_STREAM. */
  localEnded = false;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  closed = false;
  /** The request's content-length (-1 none) and the body bytes so far. */
  contentLength = -1;
  received = 0;

  constructor(
    readonly conn: ServerConnection,
    readonly id: number,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  get writableEnded(): boolean {
    return this.endQueued || this.closed;
  }

  own(handler: StreamEvents): void {
    this.handler = handler;
  }

  respond(headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): void {
    this.conn.respond(this, headers, endStream, waitForTrailers);
  }

  respondFields(status: number, names: readonly string[], values: readonly string[], endStream: boolean, waitForTrailers: boolean): void {
    this.conn.respondFields(this, status, names, values, endStream, waitForTrailers);
  }

  additionalHeaders(headers: OutgoingHttpHeaders): void {
    this.conn.interim(this, headers);
  }

  write(data: Buffer): boolean {
    return this.conn.write(this, data);
  }

  end(last: Buffer | null): void {
    this.conn.end(this, last);
  }

  sendTrailers(headers: OutgoingHttpHeaders): void {
    this.conn.trailers(this, headers);
  }

  close(code: number): void {
    this.conn.reset(this, code);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn.resumed(this);
  }
}

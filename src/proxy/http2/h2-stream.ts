/**
 * The seam between a StreamExchange (one HTTP/2 request through the shared Exchange) and
 * the HTTP/2 server underneath: our own (server-stream.ts, the default) or node:http2's
 * (node-stream.ts, with FULCRUM_H2=node).
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { ClientEvents } from '../exchange/client-events.js';

/** What a stream tells its exchange. */
export interface StreamEvents extends ClientEvents {
  /** The client's request trailers, as "name: value" CRLF lines; its end follows. */
  requestTrailers(lines: string): void;
  /** The response body is out (respond() asked for trailers): sendTrailers() now. */
  wantTrailers(): void;
}

/** What an exchange does with its stream. */
export interface H2Stream {
  /** The final response head went out. */
  readonly headersSent: boolean;
  /** The stream is closed (reset, or its connection gone): nothing more can be sent. */
  readonly closed: boolean;
  /** end() was called, or the stream is closed. */
  readonly writableEnded: boolean;
  /** Sends its events to `handler` from now on. */
  own(handler: StreamEvents): void;
  /** The final response head; throws for a field HTTP/2 cannot carry. */
  respond(headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): void;
  /** The final response head as its status and fields in order (names lower-case): what a relayed response sends, without a header object; throws as respond() does. */
  respondFields(status: number, names: readonly string[], values: readonly string[], endStream: boolean, waitForTrailers: boolean): void;
  /** An interim (1xx) head; throws for a field HTTP/2 cannot carry. */
  additionalHeaders(headers: OutgoingHttpHeaders): void;
  /** Body bytes; false when the handler should wait for onClientDrain. */
  write(data: Buffer): boolean;
  /** Ends the response, with `last` its final bytes. */
  end(last: Buffer | null): void;
  sendTrailers(headers: OutgoingHttpHeaders): void;
  /** RST_STREAM with `code` (NO_ERROR after a complete response: once it is out). */
  close(code: number): void;
  /** Stop (and resume) taking request body: the client's window closes. */
  pause(): void;
  resume(): void;
}

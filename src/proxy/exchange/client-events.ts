/**
 * The client side's events, for HTTP/1.1 sockets and HTTP/2 streams alike. The listeners
 * are shared (no closure per connection or stream: 10,000 idle connections must stay
 * small); each finds its owner under a symbol property, and an exception thrown by the
 * owner costs that owner only.
 */
import type { EventEmitter } from 'node:events';

/** What an owner of a client socket or stream receives. */
export interface ClientEvents {
  onClientData(chunk: Buffer): void;
  /** The client ended its side (FIN, END_STREAM). */
  onClientEnd(): void;
  onClientDrain(): void;
  onClientClose(): void;
  onInternalError(err: unknown): void;
}

const OWNER = Symbol('fulcrum.exchange');
type Owned = { [OWNER]: ClientEvents };

/** The owner set by listenClient. */
export function ownerOf(x: object): ClientEvents {
  return (x as Owned)[OWNER];
}

function onData(this: Owned, chunk: Buffer): void {
  const c = this[OWNER];
  try {
    c.onClientData(chunk);
  } catch (err) {
    c.onInternalError(err);
  }
}

/** Runs one event of the owner's; an exception costs that owner only. */
function deliver(c: ClientEvents, event: (c: ClientEvents) => void): void {
  try {
    event(c);
  } catch (err) {
    c.onInternalError(err);
  }
}

const END = (c: ClientEvents) => c.onClientEnd();
const DRAIN = (c: ClientEvents) => c.onClientDrain();
const CLOSE = (c: ClientEvents) => c.onClientClose();

function onEnd(this: Owned): void {
  deliver(this[OWNER], END);
}

function onDrain(this: Owned): void {
  deliver(this[OWNER], DRAIN);
}

function onClose(this: Owned): void {
  deliver(this[OWNER], CLOSE);
}

function ignore(): void {}

/**
 * Makes `owner` receive the events of `x`; `data`: also its 'data' events (not for
 * sockets whose reads arrive another way: the shared read buffer, the addon's arena).
 */
export function listenClient(x: EventEmitter, owner: ClientEvents, data: boolean): void {
  (x as unknown as Owned)[OWNER] = owner;
  if (data) x.on('data', onData);
  x.on('end', onEnd);
  x.on('drain', onDrain);
  x.on('error', ignore);
  x.on('close', onClose);
}

/** Undoes listenClient (a socket handed over to another owner). */
export function unlistenClient(x: EventEmitter): void {
  x.off('data', onData);
  x.off('end', onEnd);
  x.off('drain', onDrain);
  x.off('error', ignore);
  x.off('close', onClose);
}

/**
 * Accepting connections: where a listener's accepted sockets come from, and the few
 * things a frontend asks of each kind before it admits one (its peer's address, how to
 * close it when refused).
 *
 * Three kinds reach the frontends:
 * - libuv TCP handles taken straight from the listening handle's `onconnection`, as
 *   net.Server does, minus the net.Socket it would make and the frontend would throw
 *   away (measured with short connections, that Socket and its teardown were about a
 *   tenth of the CPU per connection): {@link takeOverAccept}, {@link HANDLE};
 * - the native addon's streams and pairs, by id (native-relay.ts): {@link streamKind};
 * - net.Sockets from net.Server's 'connection' event, the public path, used by TLS
 *   listeners and wherever the internals above are not usable: {@link SOCKET}.
 *
 * The hijacked `onconnection` is one function for every listener; its listener is found
 * through a symbol property on the listening handle, so nothing is allocated per
 * connection.
 */
import type net from 'node:net';
import { internals, isDisabled, reportMissing } from './internals.js';
import type { NativeRelay } from './native-relay.js';
import { socketForHandle, type ReadCallback } from './read-buffer.js';
import type { TcpHandle } from './tcp-handles.js';

/** What a listener taking handles from onconnection implements. */
export interface HandleAcceptor {
  /** A new connection's handle (an exception closes it and goes to internalError). */
  acceptHandle(handle: TcpHandle): void;
  /** accept() failed with `code` (a libuv error). */
  acceptFailed(code: number): void;
  internalError(err: unknown): void;
}

const ACCEPTOR = Symbol('fulcrum.acceptor');

interface ListeningHandle {
  onconnection: unknown;
  [ACCEPTOR]?: HandleAcceptor;
}

/** The listening handle's onconnection, shared by every listener (`this` is the handle). */
function onConnection(this: ListeningHandle, err: number, handle: TcpHandle | undefined): void {
  const acceptor = this[ACCEPTOR]!;
  if (err < 0 || handle === undefined) {
    acceptor.acceptFailed(err);
    return;
  }
  try {
    acceptor.acceptHandle(handle);
  } catch (e) {
    handle.close();
    acceptor.internalError(e);
  }
}

/**
 * Takes `server`'s accepted handles (listening now) to `acceptor.acceptHandle` from now on.
 * False, changing nothing, when that cannot be done here: the libuv bindings or net's
 * onread are not usable (the handle could not be wrapped), or the listening handle has no
 * `onconnection` (logged once per process); the caller keeps net.Server's 'connection'
 * event path. `needsOnread`: the acceptor wraps handles in net.Sockets that read through
 * the shared buffer (the HTTP engine).
 */
export function takeOverAccept(server: net.Server, acceptor: HandleAcceptor, needsOnread: boolean): boolean {
  if (isDisabled('onconnection')) {
    reportMissing('onconnection', 'disabled by FULCRUM_IO_DISABLE');
    return false;
  }
  const listening = (server as unknown as { _handle?: ListeningHandle | null })._handle;
  if (listening == null || typeof listening.onconnection !== 'function') {
    reportMissing('onconnection', listening == null ? 'a listening net.Server has no _handle' : "a listening net.Server's _handle has no onconnection");
    return false;
  }
  const io = internals();
  if (io.handles === null || (needsOnread && io.onread === null)) return false; // logged by the self-test
  listening[ACCEPTOR] = acceptor;
  listening.onconnection = onConnection;
  return true;
}

/** How a frontend looks at an accepted socket of one kind before admitting it. */
export interface AcceptKind<S> {
  /** The peer's address ('' when unknown), for proxy_protocol.trusted. */
  peerAddress(s: S): string;
  /** Closes a socket the frontend refused. */
  refuse(s: S): void;
}

/** Handles from {@link takeOverAccept}. */
export const HANDLE: AcceptKind<TcpHandle> = {
  peerAddress(h: TcpHandle): string {
    const peer: { address?: string } = {};
    h.getpeername(peer);
    return peer.address ?? '';
  },
  refuse(h: TcpHandle): void {
    h.close();
  },
};

/** net.Sockets from net.Server's 'connection' event. */
export const SOCKET: AcceptKind<net.Socket> = {
  peerAddress(s: net.Socket): string {
    return s.remoteAddress ?? '';
  },
  refuse(s: net.Socket): void {
    s.destroy();
  },
};

const streamKinds = new WeakMap<NativeRelay, AcceptKind<number>>();

/** The addon's streams by id (one kind object per relay, made once). */
export function streamKind(relay: NativeRelay): AcceptKind<number> {
  let kind = streamKinds.get(relay);
  if (kind === undefined) {
    kind = {
      peerAddress: (id: number) => relay.streamPeer(id)?.[0] ?? '',
      refuse: (id: number) => relay.streamClose(id),
    };
    streamKinds.set(relay, kind);
  }
  return kind;
}

/**
 * A net.Socket (allowHalfOpen, noDelay as net.Server would set) for a handle from
 * {@link takeOverAccept}, reading through READ_BUFFER into `onRead`.
 */
export function socketForAcceptedHandle(handle: TcpHandle, onRead: ReadCallback): net.Socket {
  handle.setNoDelay(true);
  return socketForHandle(handle, onRead, true);
}

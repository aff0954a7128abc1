/**
 * Waiting in tests: a pause, bounded polling with a message that says what did not
 * happen, and bounded waits for an event or a socket's close. Every wait here ends.
 */
import type net from 'node:net';

/** Default bound on a single wait in the test helpers. */
export const WAIT_MS = 5000;

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The values `waitFor` keeps polling on. */
type Falsy = false | 0 | '' | null | undefined;

/**
 * Polls `cond` every `everyMs` (5) until it returns a truthy value, and resolves with that
 * value; throws "timed out after N ms waiting for WHAT" after `timeoutMs`.
 */
export async function waitFor<T>(cond: () => T, timeoutMs: number, what: string | (() => string), everyMs = 5): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v as Exclude<T, Falsy>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

/** As `waitFor`, for a condition that must be awaited (an HTTP call); polls every `everyMs` (50). */
export async function waitForAsync<T>(cond: () => Promise<T>, timeoutMs: number, what: string | (() => string), everyMs = 50): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as Exclude<T, Falsy>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

/** Resolves with the arguments of `emitter`'s next `event`; rejects after `timeoutMs`. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = WAIT_MS): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (...args: T[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Resolves when the socket has closed; throws after `timeoutMs`. */
export function closed(sock: net.Socket, timeoutMs = WAIT_MS): Promise<void> {
  if (sock.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Resolves on `emitter`'s `event` (e.g. 'connect'); rejects on an 'error' or a 'close'
 * before it, or after `timeoutMs` with "no WHAT within N ms".
 */
export function ready(emitter: NodeJS.EventEmitter, event: string, what: string, timeoutMs = WAIT_MS): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      emitter.off('error', onError);
      emitter.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onEvent = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error(`${what}: closed before it came`));
    const timer = setTimeout(() => done(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, onEvent);
    emitter.once('error', onError);
    emitter.once('close', onClose);
  });
}

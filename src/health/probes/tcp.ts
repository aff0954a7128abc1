/**
 * TCP connect check: the server passes when it accepts a connection. The connection is
 * closed at once (no bytes sent).
 */
import type { Probe, ProbeResult, ProbeTarget } from '../probe.js';
import { runDialogue, type SocketDialogue } from './dialogue.js';

const CONNECTED: ProbeResult = Object.freeze({ ok: true, detail: 'connected' });

const CONNECT_ONLY: SocketDialogue = {
  connected: () => CONNECTED,
  // never reached: the verdict is given on connect
  data: () => CONNECTED,
  end: () => CONNECTED,
  waitingFor: () => 'connect',
};

/** Passes when a TCP connection to the target is established within the timeout. */
export class TcpProbe implements Probe {
  /** One connect attempt; see the Probe contract. */
  check(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
    return runDialogue(target, timeoutMs, null, CONNECT_ONLY);
  }
}

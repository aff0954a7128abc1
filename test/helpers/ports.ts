import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Ports for tests that must name a port before something binds it (a server restarted on
 * the same port, a listener kept across reloads).
 *
 * A port the kernel picked with bind(0) comes from its ephemeral range, and any connect()
 * on the machine may take it as a source port between our check and the bind: the bind
 * then fails with EADDRINUSE, or a connect to the dead server's port connects to itself.
 * Ports below the ephemeral range are never handed out by the kernel, so one that is free
 * now stays free until somebody binds it on purpose. Each port is given out once per
 * process.
 */
const given = new Set<number>();
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (ip_local_port_range), 32768 if unknown. */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : 32768;
  } catch {
    return 32768;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that is free now and below the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  for (let i = 0; i < 200; i++) {
    const port = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (given.has(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${LOWEST} and ${top}`);
}

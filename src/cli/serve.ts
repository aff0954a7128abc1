import type { Config } from '../config/types.js';
import { poolChannel, serverStateChannel, type PoolEvent, type ServerStateEvent } from '../core/events.js';
import { startInstance, type Instance } from '../runtime/instance.js';
import { say } from './output.js';

/**
 * Runs a configuration until SIGINT or SIGTERM, then stops gracefully and resolves
 * with the exit code. Prints one `listening on` line per listener once all are bound
 * (scripts and tests wait for it).
 */
export async function serve(config: Config, onStop?: () => Promise<void>): Promise<number> {
  serverStateChannel.subscribe(logServerState);
  poolChannel.subscribe(logPoolEvent);
  let instance: Instance;
  try {
    instance = await startInstance(config);
  } catch (err) {
    say((err as Error).message);
    await onStop?.();
    return 1;
  }
  for (const l of instance.listeners) {
    const a = l.address();
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    const lc = instance.config.listeners.find((c) => c.name === l.name);
    const mode = lc?.mode;
    const scheme = mode === 'udp' || mode === 'tcp' ? mode : lc?.tls ? 'https' : 'http';
    say(`listening on ${scheme}://${host}:${a.port} (listener ${l.name})`);
  }
  for (const a of instance.dns?.addresses() ?? []) {
    say(`listening on dns://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port} (udp and tcp)`);
  }
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      say(`${signal}: finishing in-flight requests, then stopping`);
      void instance
        .stop({ graceMs: 5000 })
        .then(() => onStop?.())
        .then(() => resolve(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

/** One line per server state change: `pool web: server s1 is down (3 checks failed: ...)`. */
function logServerState(message: unknown): void {
  const e = message as ServerStateEvent;
  say(`pool ${e.pool}: server ${e.server} is ${e.state} (${e.reason})`);
}

/** One line per pool situation (nothing usable, backups in use). */
function logPoolEvent(message: unknown): void {
  const e = message as PoolEvent;
  const what = e.event === 'no-server' ? 'no usable server' : e.event === 'backup-active' ? 'backup servers active' : 'primary servers back';
  say(`pool ${e.pool}: ${what} (${e.reason})`);
}

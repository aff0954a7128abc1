import { reloadAdmin, startAdmin } from '../admin/lifecycle.js';
import type { AdminServer } from '../admin/server.js';
import type { Config } from '../config/types.js';
import { poolChannel, serverStateChannel, type PoolEvent, type ServerStateEvent } from '../core/events.js';
import { log, setupLogging } from '../core/log.js';
import { ControlServer, defaultControlPath, type ControlAnswer, type ControlRequest } from '../runtime/control.js';
import { Primary, setupWorkers, type ReloadSource } from '../runtime/primary.js';
import { sdNotify, startWatchdog, stopWatchdog } from '../runtime/sd-notify.js';
import { dropPrivileges, primaryCapabilities } from '../runtime/privileges.js';

export interface ServeOptions {
  /** Reads the configuration again for a reload (SIGHUP, `fulcrum reload`). */
  reload: ReloadSource;
  /** `--workers N`. */
  workers?: number;
  /** Runs after everything stopped (the quickstart's demo servers). */
  onStop?: () => Promise<void>;
}

/**
 * Runs a configuration as the primary process until SIGTERM, SIGINT or `fulcrum stop`,
 * then stops gracefully and resolves with the exit code. Logs one `listening on` line
 * per listener once every worker listens (scripts and tests wait for it). SIGHUP
 * reloads, SIGUSR1 reopens access log files.
 */
export async function serve(config: Config, opts: ServeOptions): Promise<number> {
  setupLogging(config.logging);
  // A signal must not kill a half-started primary (SIGHUP's default would, leaving
  // virtual addresses and kernel tables behind): until started, `early` answers them.
  let stopWhenStarted: string | null = null;
  const early = (sig: string) => {
    if (sig === 'SIGINT' || sig === 'SIGTERM') stopWhenStarted = sig;
    log().warn(`${sig} while starting: ${stopWhenStarted === sig ? 'stopping as soon as started' : 'ignored'}`);
  };
  // One listener per signal for the whole run, whose target changes. Swapping listeners
  // would leave a moment with none, in which a signal kills the process (the default
  // action) or, caught just before, is dropped with the closed handle.
  let onSignal: (sig: NodeJS.Signals) => void = early;
  const dispatch = (sig: NodeJS.Signals) => onSignal(sig);
  const signals = ['SIGHUP', 'SIGUSR1', 'SIGINT', 'SIGTERM'] as const;
  for (const sig of signals) process.on(sig, dispatch);
  serverStateChannel.subscribe(logServerState);
  poolChannel.subscribe(logPoolEvent);
  setupWorkers(process.execArgv);
  // The configuration a reload read, for the parts applied here (the admin listener).
  let reloaded: Config | undefined;
  const reload: ReloadSource = async () => {
    const r = await opts.reload();
    reloaded = r.config;
    return r;
  };
  const primary = new Primary(config, { workers: opts.workers, reload });
  try {
    await primary.start();
  } catch (err) {
    log().error((err as Error).message);
    for (const sig of signals) process.off(sig, dispatch);
    await opts.onStop?.();
    return 1;
  }
  const socketPath = config.runtime.controlSocket === false ? null : (config.runtime.controlSocket ?? defaultControlPath());
  let onCommand: (request: ControlRequest) => Promise<ControlAnswer> = async () => ({ ok: false, message: 'starting' });
  let control: ControlServer | null = socketPath === null ? null : new ControlServer(socketPath, (c) => onCommand(c));
  try {
    await control?.start();
    if (control !== null) log().info(`control socket ${socketPath} (fulcrum status|reload|stop|server)`);
  } catch (err) {
    log().warn(`no control socket: ${(err as Error).message} (set runtime.control_socket)`);
    control = null;
  }
  let admin: AdminServer | null = null;
  try {
    admin = await startAdmin(primary, config.admin);
    dropPrivileges(config, primaryCapabilities(config), 'the primary');
  } catch (err) {
    log().error((err as Error).message);
    await admin?.stop();
    await primary.stop();
    await control?.stop();
    await opts.onStop?.();
    return 1;
  }
  if (admin !== null) log().info(admin.describe());
  announce(primary);
  // systemd (Type=notify): every listener is bound
  sdNotify('READY=1', `STATUS=${statusLine(primary)}`, `MAINPID=${process.pid}`);
  startWatchdog();

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (why: string): ControlAnswer => {
      if (!stopping) {
        stopping = true;
        log().info(`${why}: finishing in-flight requests (up to ${config.runtime.shutdownMs} ms), then stopping`);
        stopWatchdog();
        sdNotify('STOPPING=1', `STATUS=stopping (${why})`);
        void primary
          .stop()
          .then(() => admin?.stop())
          .then(() => control?.stop())
          .then(() => opts.onStop?.())
          .then(() => {
            log().info('stopped');
            resolve(0);
          });
      }
      return { ok: true, message: 'stopping' };
    };
    const handle = async (request: ControlRequest): Promise<ControlAnswer> => {
      if (request.command === 'server') {
        const result = await primary.operate(request.operation);
        return { ok: result.ok, message: result.message, data: result.data };
      }
      if (request.command === 'status') return { ok: true, message: 'status', data: await primary.freshStatus() };
      if (request.command === 'stop') return stop('fulcrum stop');
      sdNotify('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, 'STATUS=reloading the configuration');
      const generation = primary.status().generation;
      let answer = await primary.reload();
      // A new generation: the new configuration is in force (even when VRRP did not follow).
      if (reloaded !== undefined && primary.status().generation !== generation) {
        const r = await reloadAdmin(admin, primary, reloaded.admin);
        admin = r.admin;
        if (r.rebound && admin !== null) log().info(admin.describe());
        if (r.problem !== null) {
          log().error(`reload: ${r.problem}; the admin listener stays as it was`);
          answer = { ok: false, message: `${answer.message}; but the admin listener stays as it was: ${r.problem}` };
        }
      }
      if (answer.ok) announce(primary);
      sdNotify('READY=1', `STATUS=${answer.ok ? statusLine(primary) : `reload refused, still on the previous configuration: ${answer.message}`}`);
      return answer;
    };
    onCommand = handle;
    onSignal = (sig) => {
      if (sig === 'SIGHUP') {
        log().info('SIGHUP: reloading the configuration');
        void handle({ command: 'reload' });
      } else if (sig === 'SIGUSR1') {
        log().info('SIGUSR1: reopening access log files');
        primary.reopenLogs();
      } else {
        stop(sig);
      }
    };
    if (stopWhenStarted !== null) stop(stopWhenStarted);
  });
}

/** CLOCK_MONOTONIC in microseconds, as systemd wants beside RELOADING=1. */
function monotonicUsec(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}

/** The STATUS= line systemctl status shows: generation, listeners, workers. */
function statusLine(primary: Primary): string {
  const s = primary.status();
  return `generation ${s.generation}: ${s.listeners.length} listener(s), ${s.workers.length} worker(s)`;
}

function announce(primary: Primary): void {
  for (const l of primary.listeners()) {
    const host = l.host.includes(':') ? `[${l.host}]` : l.host;
    log().info(`listening on ${l.scheme}://${host}:${l.port} (listener ${l.name})`);
  }
  for (const a of primary.dnsAddresses()) {
    log().info(`listening on dns://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port} (udp and tcp)`);
  }
}

/** One line per server state change: `pool web: server s1 is down (3 checks failed: ...)`. */
export function logServerState(message: unknown): void {
  const e = message as ServerStateEvent;
  log().info({ pool: e.pool, server: e.server, state: e.state }, `pool ${e.pool}: server ${e.server} ${STATE_WORDS[e.state] ?? `is ${e.state}`} (${e.reason})`);
}

/** How a log line says the runtime API's states; the others read "is up", "is ejected". */
const STATE_WORDS: Partial<Record<ServerStateEvent['state'], string>> = {
  drain: 'is draining',
  maint: 'is in maintenance',
  ready: 'is ready',
  weight: 'has a new weight',
};

/** One line per pool situation (nothing usable, backups in use). */
function logPoolEvent(message: unknown): void {
  const e = message as PoolEvent;
  const what = e.event === 'no-server' ? 'no usable server' : e.event === 'backup-active' ? 'backup servers active' : 'primary servers back';
  log().warn({ pool: e.pool, event: e.event }, `pool ${e.pool}: ${what} (${e.reason})`);
}

/**
 * A worker process (forked by the primary with node:cluster): runs the listeners of the
 * configuration it is sent, with the primary's health decisions, and reports counters.
 * Signals are the primary's business: a terminal's Ctrl-C reaches the whole process
 * group, so workers ignore SIGINT, SIGTERM, SIGHUP and SIGUSR1 and wait for the
 * primary's word. If the primary goes away, the worker drains and exits.
 */
import cluster from 'node:cluster';
import { flushAccessLogs, reopenAccessLogs } from '../proxy/access-log.js';
import { serverStateChannel, type ServerStateEvent } from '../core/events.js';
import { log, setupLogging } from '../core/log.js';
import { setProcessTicketKeys } from '../tls/ticket-keys.js';
import { schemeOf, startInstance, type Instance } from './instance.js';
import type { Config } from '../config/types.js';
import { memorySample, type AdminUpdate, type BoundListener, type FromWorker, type HealthState, type ToWorker } from './messages.js';
import { dropPrivileges } from './privileges.js';
import { workerMetrics } from '../metrics/snapshot.js';
import { limitTable } from '../limits/table.js';

const COUNTERS_EVERY_MS = 1000;

let instance: Instance | null = null;
let draining = false;

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1'] as const) process.on(sig, () => {});

process.on('uncaughtException', (err) => {
  log().fatal({ err }, 'worker: uncaught exception, exiting (the primary starts a new worker)');
  process.exit(70);
});

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start':
      setProcessTicketKeys(Buffer.from(m.ticketKeys));
      void start(m.config, m.health, m.admin);
      break;
    case 'health':
      instance?.applyHealth(m.state);
      break;
    case 'admin':
      instance?.applyAdmin(m.update);
      break;
    case 'passed':
      instance?.activeCheckPassed(m.server);
      break;
    case 'drain':
      void drain(m.graceMs, m.closeIdle);
      break;
    case 'reopen':
      reopenAccessLogs();
      break;
    case 'metrics':
      send(instance === null ? { t: 'metrics', id: m.id, metrics: null } : { t: 'metrics', id: m.id, metrics: workerMetrics(instance), counters: instance.counters(), memory: memorySample() });
      break;
  }
});

send({ t: 'hello' });

// The primary is gone (killed): finish what is in flight, briefly, then go.
process.on('disconnect', () => void drain(2000, true));

async function start(config: Config, health: HealthState[], admin: AdminUpdate[]): Promise<void> {
  setupLogging(config.logging, { worker: cluster.worker?.id });
  limitTable(); // maps the shared table and joins the accept balance before any listener accepts
  // Active health is the primary's to log; passive health (outlier ejections) happens here.
  serverStateChannel.subscribe((m) => {
    const e = m as ServerStateEvent;
    if (e.state === 'ejected' || e.state === 'returned') log().warn(`pool ${e.pool}: server ${e.server} is ${e.state} (${e.reason})`);
  });
  try {
    instance = await startInstance(config, { health: 'external', initialHealth: health, onEject: (server) => send({ t: 'ejected', server }) });
    for (const u of admin) instance.applyAdmin(u);
    // listening: a worker needs no privilege from here on
    dropPrivileges(config, [], `worker ${cluster.worker?.id ?? ''}`.trim());
  } catch (err) {
    send({ t: 'failed', message: (err as Error).message });
    process.exit(1);
  }
  const listeners: BoundListener[] = instance.listeners.map((l, i) => {
    const a = l.address();
    return { name: l.name, scheme: schemeOf(config.listeners[i]!), host: a.address, port: a.port };
  });
  send({ t: 'ready', listeners });
  const timer = setInterval(() => instance !== null && send(report(instance)), COUNTERS_EVERY_MS);
  timer.unref();
}

function report(i: Instance): FromWorker {
  return { t: 'counters', counters: i.counters(), memory: memorySample(), metrics: workerMetrics(i) };
}

/** Exits once the last report has left (metrics count up to the end), or after 1 s. */
function exitReported(): void {
  if (instance === null || !process.connected) process.exit(0);
  setTimeout(() => process.exit(0), 1000).unref();
  process.send!(report(instance), undefined, {}, () => process.exit(0));
}

async function drain(graceMs: number, closeIdle: boolean): Promise<void> {
  if (draining) {
    // Already draining after a reload, and now the primary stops: idle keep-alive
    // connections go now (the reload's drain kept them), and the stop's (shorter)
    // deadline wins; the drain's own wait ends as soon as the last connection does.
    if (closeIdle) for (const l of instance?.listeners ?? []) l.closeIdle?.();
    setTimeout(() => {
      flushAccessLogs();
      exitReported();
    }, graceMs).unref();
    return;
  }
  draining = true;
  await instance?.stop({ graceMs, closeIdle });
  flushAccessLogs();
  exitReported();
}

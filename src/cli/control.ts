import { parseCommandArgs } from './args.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { formatIssue } from '../config/format.js';
import { controlRequest, defaultControlPath, type ControlCommand } from '../runtime/control.js';
import type { ServerStatus, StatusReport } from '../runtime/primary.js';
import type { ServerOverride } from '../runtime/api.js';
import type { MemorySample } from '../runtime/messages.js';

/** The command's options (also what `fulcrum completion` offers). */
export const CONTROL_OPTIONS = {
  socket: { type: 'string', short: 's' },
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONTROL_USAGE = `Usage: fulcrum reload|stop|status [-s SOCKET | -c FILE] [--json]

Talks to a running instance over its control socket.
  reload   read the configuration again and apply it without dropping connections
           (a configuration with problems is refused, and they are listed)
  stop     stop gracefully: finish in-flight requests, then exit
  status   listeners, workers, pools and server states with their counters
  -s, --socket PATH   the control socket (default: the configuration's
                      runtime.control_socket with -c, else ${defaultControlPath()})
  -c, --config FILE   read the socket path from this configuration
  --json              print the answer as JSON
  -h, --help          this text
`;

/** `fulcrum reload|stop|status`: resolves with the exit code (0 when the instance said ok). */
export async function controlCommand(command: ControlCommand, args: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: CONTROL_OPTIONS,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CONTROL_USAGE);
    return 0;
  }
  const socket = await resolveSocket(values);
  if (socket === null) return 1;
  const answer = await controlRequest(socket, command);
  if (values.json) {
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
  } else if (command === 'status' && answer.ok) {
    process.stdout.write(formatStatus(answer.data as StatusReport));
  } else {
    const out = answer.ok ? process.stdout : process.stderr;
    if (Array.isArray(answer.data)) for (const line of answer.data) out.write(`${String(line)}\n`);
    out.write(`${answer.message}\n`);
  }
  return answer.ok ? 0 : 1;
}

/**
 * The control socket to talk to: `-s`, else the one `-c FILE` configures, else the
 * default. Null (with the reason on stderr) when FILE has problems or turns it off: the
 * default socket might answer, but it need not be that configuration's instance.
 */
export async function resolveSocket(values: { socket?: string; config?: string }): Promise<string | null> {
  if (values.socket !== undefined) return values.socket;
  if (values.config === undefined) return defaultControlPath();
  const { config, issues } = await loadConfigIsolated({ file: values.config });
  if (config === undefined) {
    process.stderr.write(`fulcrum: ${values.config} has problems, so its control socket is unknown (use -s SOCKET):\n${issues.map(formatIssue).join('\n')}\n`);
    return null;
  }
  const configured = config.runtime.controlSocket;
  if (configured === false) {
    process.stderr.write(`fulcrum: ${values.config} turns the control socket off (runtime.control_socket: false)\n`);
    return null;
  }
  return configured ?? defaultControlPath();
}

/** The status report as text. */
export function formatStatus(r: StatusReport): string {
  const lines = [`fulcrum pid ${r.pid}, configuration ${r.source}, generation ${r.generation}`, '', 'workers:'];
  const mib = (m: MemorySample | null) => (m === null ? '' : `  rss ${m.rss < 0 ? '?' : (m.rss / 1048576).toFixed(1)} MiB  heap ${(m.heapUsed / 1048576).toFixed(1)} MiB`);
  for (const w of r.workers) lines.push(`  worker ${w.id}  pid ${w.pid ?? '-'}  generation ${w.generation}  active ${w.active}${mib(w.memory)}${w.draining ? '  (draining)' : ''}`);
  lines.push('', 'listeners:');
  for (const l of r.listeners) {
    const host = l.host.includes(':') ? `[${l.host}]` : l.host;
    lines.push(`  ${l.name}  ${l.scheme}://${host}:${l.port}  active ${l.active}  accepted ${l.accepted}`);
  }
  lines.push('', 'pools:');
  for (const p of r.pools) {
    lines.push(`  ${p.name}`);
    for (const s of p.servers) {
      lines.push(`    ${s.name}  ${s.address}  ${serverWord(s)}  weight ${s.weight}  active ${s.active}  total ${s.total}`);
      const why = [s.reason, s.lastCheck === null ? '' : `last check ${ago(r.at, s.lastCheck.at)} ago: ${s.lastCheck.ok ? 'passed' : 'failed'} (${s.lastCheck.detail})`].filter(Boolean).join('; ');
      if (why !== '') lines.push(`      ${why}`);
    }
  }
  if (r.overrides.length > 0) {
    lines.push('', 'overrides (runtime API; they survive reloads until changed back):');
    for (const o of r.overrides) lines.push(`  ${o.pool}/${o.server}  ${overrideWords(o)}`);
  }
  return lines.join('\n') + '\n';
}

/** "up", "DOWN", "up, draining", "up, ejected", "up, slow start": what the server is doing. */
function serverWord(s: ServerStatus): string {
  const words = [s.healthy ? 'up' : 'DOWN'];
  if (s.state === 'drain') words.push('draining');
  if (s.state === 'maint') words.push('MAINT');
  if (s.ejected) words.push('ejected');
  if (s.slowStart) words.push('slow start');
  return words.join(', ');
}

/** "state drain, weight 5", "added at 127.0.0.1:9003", "removed". */
function overrideWords(o: ServerOverride): string {
  if (o.removed === true) return 'removed';
  const words: string[] = [];
  if (o.added !== undefined) words.push(`added at ${o.added.host.includes(':') ? `[${o.added.host}]` : o.added.host}:${o.added.port}`);
  if (o.state !== undefined) words.push(`state ${o.state}`);
  if (o.weight !== undefined) words.push(`weight ${o.weight}`);
  return words.join(', ');
}

/** "0.4 s", "12 s", "3 min": how long before `now` `then` was. */
function ago(now: number, then: number): string {
  const s = Math.max(0, now - then) / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

import { parseCommandArgs } from './args.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { formatIssue } from '../config/format.js';
import { controlRequest, defaultControlPath, type ControlCommand } from '../runtime/control.js';
import type { StatusReport } from '../runtime/primary.js';
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
  let socket = values.socket;
  if (socket === undefined && values.config !== undefined) {
    const { config, issues } = await loadConfigIsolated({ file: values.config });
    if (config === undefined) {
      // the default socket might answer, but it need not be this configuration's instance
      process.stderr.write(`fulcrum: ${values.config} has problems, so its control socket is unknown (use -s SOCKET):\n${issues.map(formatIssue).join('\n')}\n`);
      return 1;
    }
    const configured = config.runtime.controlSocket;
    if (configured === false) {
      process.stderr.write(`fulcrum: ${values.config} turns the control socket off (runtime.control_socket: false)\n`);
      return 1;
    }
    socket = configured ?? undefined;
  }
  socket ??= defaultControlPath();
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
      lines.push(`    ${s.name}  ${s.address}  ${s.healthy ? 'up' : 'DOWN'}  weight ${s.weight}  active ${s.active}  total ${s.total}`);
      const why = [s.reason, s.lastCheck === null ? '' : `last check ${ago(r.at, s.lastCheck.at)} ago: ${s.lastCheck.ok ? 'passed' : 'failed'} (${s.lastCheck.detail})`].filter(Boolean).join('; ');
      if (why !== '') lines.push(`      ${why}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** "0.4 s", "12 s", "3 min": how long before `now` `then` was. */
function ago(now: number, then: number): string {
  const s = Math.max(0, now - then) / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

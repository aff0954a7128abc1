/** `fulcrum bgp show`: the BGP sessions and routes of a running instance, from its status report. */
import { parseCommandArgs } from './args.js';
import { controlRequest } from '../runtime/control.js';
import type { StatusReport } from '../runtime/primary.js';
import type { BgpReport } from '../bgp/speaker.js';
import { CONTROL_OPTIONS, resolveSocket } from './control.js';

export const BGP_OPTIONS = CONTROL_OPTIONS;

export const BGP_USAGE = `Usage: fulcrum bgp show [-s SOCKET | -c FILE] [--json]

The BGP sessions of a running instance (peer, state, how long, the last error) and its
routes: announced or withdrawn, since when, and the condition that decided.
  -s, --socket PATH   the control socket (default as for \`fulcrum status\`)
  -c, --config FILE   read the socket path from this configuration
  --json              print the report as JSON
  -h, --help          this text
`;

export async function bgpCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args, options: BGP_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(BGP_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'show') {
    process.stderr.write(`fulcrum bgp: expected \`show\`\n${BGP_USAGE}`);
    return 2;
  }
  const socket = await resolveSocket(values);
  if (socket === null) return 1;
  const answer = await controlRequest(socket, 'status');
  if (!answer.ok) {
    process.stderr.write(`${answer.message}\n`);
    return 1;
  }
  const report = (answer.data as StatusReport).bgp;
  if (values.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  if (report === null) {
    process.stdout.write('BGP is not configured (no `bgp` section)\n');
    return 0;
  }
  process.stdout.write(formatBgp(report, (answer.data as StatusReport).at));
  return 0;
}

function formatBgp(r: BgpReport, now: number): string {
  const lines = [`AS ${r.asn}, router id ${r.routerId}`, '', 'sessions:'];
  for (const s of r.sessions) {
    const up = s.state === 'established' ? `  up ${Math.round((now - s.since) / 1000)} s` : '';
    lines.push(`  ${s.peer}  ${s.address}  AS ${s.asn}  ${s.state}${up}  updates sent ${s.counts.updatesSent}${s.bfd === null ? '' : `  bfd ${s.bfd}`}${s.lastError === '' ? '' : `  (${s.lastError})`}`);
  }
  lines.push('', 'routes:');
  for (const x of r.routes) lines.push(`  ${x.prefix}  ${x.announced ? 'announced' : 'WITHDRAWN'}  since ${new Date(x.since).toISOString()}  ${x.why}`);
  return lines.join('\n') + '\n';
}

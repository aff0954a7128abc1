/**
 * `fulcrum server ...`: the runtime API over the control socket (the admin listener's
 * operations, for the shell): a server's state and weight, servers added and removed,
 * a health check now.
 */
import { parseCommandArgs } from './args.js';
import { controlRequest } from '../runtime/control.js';
import type { ServerOperation } from '../runtime/api.js';
import { resolveSocket } from './control.js';
import type { LastCheck } from '../runtime/messages.js';
import type { ServerStatus } from '../runtime/primary.js';

export const SERVER_OPTIONS = {
  socket: { type: 'string', short: 's' },
  config: { type: 'string', short: 'c' },
  weight: { type: 'string', short: 'w' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SERVER_ACTIONS = ['drain', 'ready', 'maint', 'weight', 'add', 'remove', 'check'] as const;

export const SERVER_USAGE = `Usage: fulcrum server ACTION ... [-s SOCKET | -c FILE] [--json]

Changes a server of a running instance, over its control socket. A change holds in
every worker, in DNS answers and in the kernel data plane within a second, and survives
reloads until changed back (\`fulcrum status\` lists it under overrides).
  drain POOL/SERVER          no new requests or connections; those in flight finish
  maint POOL/SERVER          out of service; active health checks go on
  ready POOL/SERVER          takes traffic again (through slow start, if configured)
  weight POOL/SERVER N       sets its weight (0..256; 0 drains it)
  add POOL NAME HOST:PORT [--weight N]
                             adds a server to a pool (a new generation of workers
                             takes over, as in a reload)
  remove POOL/SERVER         removes a server (also a reload of the workers)
  check POOL/SERVER          runs its health check now and prints the result
  -s, --socket PATH   the control socket (default as for \`fulcrum status\`)
  -c, --config FILE   read the socket path from this configuration
  -w, --weight N      the weight of a server added (default 1)
  --json              print the answer as JSON
  -h, --help          this text
`;

/** Reads the words after `server` into an operation, or says what is wrong. */
export function parseServerWords(words: string[], weight: string | undefined): ServerOperation | string {
  const [action, target, extra, more] = words;
  if (action === undefined) return 'give an action: drain, ready, maint, weight, add, remove or check';
  if (!(SERVER_ACTIONS as readonly string[]).includes(action)) return `unknown action ${JSON.stringify(action)}: expected ${SERVER_ACTIONS.join(', ')}`;
  if (action === 'add') {
    if (target === undefined || extra === undefined || more === undefined || words.length > 4) return 'usage: fulcrum server add POOL NAME HOST:PORT [--weight N]';
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(more);
    if (m === null) return `expected HOST:PORT (IPv6 in brackets), got ${JSON.stringify(more)}`;
    const w = weight === undefined ? undefined : Number(weight);
    if (w !== undefined && !Number.isInteger(w)) return `--weight: expected an integer from 0 to 256, got ${JSON.stringify(weight)}`;
    return { op: 'add', pool: target, spec: { name: extra, host: m[1] ?? m[2]!, port: Number(m[3]), ...(w === undefined ? {} : { weight: w }) } };
  }
  const slash = target?.indexOf('/') ?? -1;
  if (target === undefined || slash <= 0 || slash === target.length - 1) return `give the server as POOL/SERVER, e.g. fulcrum server ${action} web/s1`;
  const pool = target.slice(0, slash);
  const server = target.slice(slash + 1);
  const rest = action === 'weight' ? 3 : 2;
  if (words.length > rest) return `unexpected ${JSON.stringify(words[rest])} after ${action} ${target}`;
  switch (action) {
    case 'weight': {
      const n = extra === undefined ? NaN : Number(extra);
      if (!Number.isInteger(n)) return `usage: fulcrum server weight POOL/SERVER N (an integer from 0 to 256)`;
      return { op: 'weight', pool, server, weight: n };
    }
    case 'remove':
      return { op: 'remove', pool, server };
    case 'check':
      return { op: 'check', pool, server };
    default:
      return { op: 'state', pool, server, state: action as 'drain' | 'ready' | 'maint' };
  }
}

/** `fulcrum server ...`: resolves with the exit code (0 when the instance did it). */
export async function serverCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args, options: SERVER_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    process.stdout.write(SERVER_USAGE);
    return 0;
  }
  const operation = parseServerWords(positionals, values.weight);
  if (typeof operation === 'string') {
    process.stderr.write(`fulcrum server: ${operation}\n`);
    return 2;
  }
  const socket = await resolveSocket(values);
  if (socket === null) return 1;
  const answer = await controlRequest(socket, { command: 'server', operation });
  if (values.json) {
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    return answer.ok ? 0 : 1;
  }
  (answer.ok ? process.stdout : process.stderr).write(`${answer.message}\n`);
  if (answer.ok && operation.op === 'state') {
    const s = answer.data as ServerStatus | undefined;
    if (s !== undefined && s.active > 0 && operation.state !== 'ready') process.stdout.write(`${s.active} request(s) or connection(s) in flight finish on it\n`);
  }
  if (answer.ok && operation.op === 'check') {
    const c = answer.data as LastCheck;
    process.stdout.write(`at ${new Date(c.at).toISOString()}\n`);
  }
  return answer.ok ? 0 : 1;
}


import { parseCommandArgs } from './args.js';
import { ALGORITHMS } from '../balance/index.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { FulcrumError } from '../core/errors.js';
import { serve } from './serve.js';
import { parseWorkersFlag } from './workers-flag.js';

/** The command's options (also what `fulcrum completion` offers). */
export const PROXY_OPTIONS = {
  listen: { type: 'string', default: '127.0.0.1:8080' },
  to: { type: 'string', multiple: true },
  balance: { type: 'string', default: 'round-robin' },
  workers: { type: 'string' },
  'request-id': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const PROXY_USAGE = `Usage: fulcrum proxy --to URL [--to URL ...] [--listen ADDR] [--balance ALG]

A one-line HTTP balancer without a configuration file.
  --listen ADDR    address to listen on (default 127.0.0.1:8080; ":8080" = all IPv4)
  --to URL         a server, as http://HOST:PORT (repeat for each server)
  --balance ALG    ${ALGORITHMS.join(' | ')} (default round-robin)
  --workers N      worker processes (default: one per CPU core; "auto" says the same)
  --request-id     give each request an X-Request-ID (kept from trusted clients), sent
                   to the server and back to the client
  -h, --help       this text

Example:
  fulcrum proxy --listen 127.0.0.1:8080 --to http://127.0.0.1:9001 --to http://127.0.0.1:9002
`;

/** Turns `--to` URLs into pool servers; throws FULCRUM_ERR_USAGE on anything but http://host:port. */
export function serversFromUrls(urls: string[]): Array<{ name: string; address: string }> {
  return urls.map((u, i) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new FulcrumError('FULCRUM_ERR_USAGE', `--to ${u}: not a URL (expected http://HOST:PORT)`);
    }
    if (url.protocol !== 'http:') throw new FulcrumError('FULCRUM_ERR_USAGE', `--to ${u}: only http:// servers are supported`);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
      throw new FulcrumError('FULCRUM_ERR_USAGE', `--to ${u}: give only scheme, host and port (no path, query or user)`);
    }
    return { name: `s${i + 1}`, address: `${url.hostname}:${url.port === '' ? 80 : url.port}` };
  });
}

/** `fulcrum proxy`: resolves with the process exit code. */
export async function proxyCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: PROXY_OPTIONS,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(PROXY_USAGE);
    return 0;
  }
  if (values.to === undefined || values.to.length === 0) {
    throw new FulcrumError('FULCRUM_ERR_USAGE', 'at least one --to URL is required');
  }
  const raw = {
    listeners: [{ name: 'proxy', bind: values.listen, mode: 'http', routes: [{ pool: 'servers' }], ...(values['request-id'] ? { request_id: { response: true } } : {}) }],
    pools: { servers: { balance: values.balance, servers: serversFromUrls(values.to) } },
  };
  const { config, issues } = await loadConfigIsolated({ raw, name: '<command line>' });
  if (config === undefined) {
    // map configuration paths back to the flags they came from
    const flag = (p: string) => (p.startsWith('listeners') ? '--listen' : p.includes('balance') ? '--balance' : '--to');
    throw new FulcrumError('FULCRUM_ERR_USAGE', issues.map((i) => `${flag(i.path)}: ${i.message}`).join('\n'));
  }
  // Nothing to read again: a reload re-applies the same command line.
  return serve(config, { workers: parseWorkersFlag(values.workers), reload: async () => ({ config, issues: [] }) });
}

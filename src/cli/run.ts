import { existsSync } from 'node:fs';
import { parseCommandArgs } from './args.js';
import { formatIssue } from '../config/format.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { log } from '../core/log.js';
import { say } from './output.js';
import { quickstartYaml, startDemoServers } from './quickstart.js';
import { serve } from './serve.js';
import { parseWorkersFlag } from './workers-flag.js';

/** The command's options (also what `fulcrum completion` offers). */
export const RUN_OPTIONS = {
  config: { type: 'string', short: 'c' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * Where `fulcrum run` looks for its configuration when -c is not given: FULCRUM_CONFIG,
 * else /etc/fulcrum/fulcrum.yaml. The demo never starts by accident (`fulcrum demo`).
 */
export function defaultConfigPath(): string {
  return process.env.FULCRUM_CONFIG || '/etc/fulcrum/fulcrum.yaml';
}

export const RUN_USAGE = `Usage: fulcrum run [-c FILE] [--workers N]

Runs the balancer: a primary process (configuration, health checks, DNS, the control
socket) and worker processes that own the listeners.
  -c, --config FILE   configuration file (YAML). Without it: $FULCRUM_CONFIG, else
                      /etc/fulcrum/fulcrum.yaml. (The demo is \`fulcrum demo\`.)
  --workers N         worker processes, overriding runtime.workers (default: one per
                      CPU core; "auto" says the same)
  -h, --help          this text

Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop gracefully,
SIGUSR1 reopens access log files. See also: fulcrum reload|stop|status.
`;

/** `fulcrum run`: resolves with the process exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    options: RUN_OPTIONS,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const workers = parseWorkersFlag(values.workers);
  let file = values.config;
  if (file === undefined) {
    file = defaultConfigPath();
    if (!existsSync(file)) {
      say(`no configuration: give one with -c FILE, or put it at ${file}${process.env.FULCRUM_CONFIG ? ' (FULCRUM_CONFIG)' : ''}; \`fulcrum demo\` runs the built-in demo`);
      return 2;
    }
    log().info(`using the configuration ${file} (no -c given)`);
  }
  const path = file;
  const read = async () => {
    const { config, issues } = await loadConfigIsolated({ file: path });
    return { config, issues: issues.map(formatIssue) };
  };
  const { config, issues } = await read();
  if (config === undefined) {
    for (const i of issues) process.stderr.write(i + '\n');
    say(`refusing to start: ${issues.length} problem(s) in ${path}`);
    return 1;
  }
  return serve(config, { workers, reload: read });
}

/** The command's options (also what `fulcrum completion` offers). */
export const DEMO_OPTIONS = {
  listen: { type: 'string', default: '127.0.0.1:8080' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const DEMO_USAGE = `Usage: fulcrum demo [--listen ADDR]

Runs the built-in demo (what \`npm start\` runs): a listener on 127.0.0.1:8080 (or
--listen) balanced round robin over two DEMO web servers, S1 and S2, that it starts on
loopback. curl it a few times and watch S1 and S2 alternate. Not for production: the
real thing is \`fulcrum run -c FILE\`.
  --listen ADDR   where to listen (default 127.0.0.1:8080)
  -h, --help      this text
`;

/** `fulcrum demo`: the embedded quickstart; resolves with the process exit code. */
export async function demoCommand(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args, options: DEMO_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const demo = await startDemoServers();
  log().info(`quickstart: started DEMO servers S1 on 127.0.0.1:${demo.ports[0]} and S2 on 127.0.0.1:${demo.ports[1]} (demo only)`);
  const { config, issues } = await loadConfigIsolated({ text: quickstartYaml(demo.ports, values.listen), name: '<embedded quickstart>' });
  if (config === undefined) {
    for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
    await demo.close();
    return 2;
  }
  log().info(`quickstart: try \`curl http://${values.listen}/\` a few times and watch S1 and S2 alternate`);
  return serve(config, { workers: undefined, reload: async () => ({ config, issues: [] }), onStop: () => demo.close() });
}

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

export const RUN_USAGE = `Usage: fulcrum run [-c FILE] [--workers N]

Runs the balancer: a primary process (configuration, health checks, DNS, the control
socket) and worker processes that own the listeners.
  -c, --config FILE   configuration file (YAML). Without it, runs the embedded
                      quickstart: 127.0.0.1:8080 balanced round robin over two demo
                      servers S1 and S2 that it starts on loopback.
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
  if (values.config !== undefined) {
    const file = values.config;
    const read = async () => {
      const { config, issues } = await loadConfigIsolated({ file });
      return { config, issues: issues.map(formatIssue) };
    };
    const { config, issues } = await read();
    if (config === undefined) {
      for (const i of issues) process.stderr.write(i + '\n');
      say(`refusing to start: ${issues.length} problem(s) in ${file}`);
      return 1;
    }
    return serve(config, { workers, reload: read });
  }
  const demo = await startDemoServers();
  log().info(`quickstart: started DEMO servers S1 on 127.0.0.1:${demo.ports[0]} and S2 on 127.0.0.1:${demo.ports[1]} (demo only)`);
  const { config, issues } = await loadConfigIsolated({ text: quickstartYaml(demo.ports), name: '<embedded quickstart>' });
  if (config === undefined) {
    for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
    await demo.close();
    return 1;
  }
  log().info('quickstart: try `curl http://127.0.0.1:8080/` a few times and watch S1 and S2 alternate');
  return serve(config, { workers, reload: async () => ({ config, issues: [] }), onStop: () => demo.close() });
}

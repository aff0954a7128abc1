import { parseArgs } from 'node:util';
import { formatIssue } from '../config/format.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { say } from './output.js';
import { quickstartYaml, startDemoServers } from './quickstart.js';
import { serve } from './serve.js';

export const RUN_USAGE = `Usage: fulcrum run [-c FILE]

Runs the balancer.
  -c, --config FILE   configuration file (YAML). Without it, runs the embedded
                      quickstart: 127.0.0.1:8080 balanced round robin over two demo
                      servers S1 and S2 that it starts on loopback.
  -h, --help          this text
`;

/** `fulcrum run`: resolves with the process exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (values.config !== undefined) {
    const { config, issues } = await loadConfigIsolated({ file: values.config });
    if (config === undefined) {
      for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
      say(`refusing to start: ${issues.length} problem(s) in ${values.config}`);
      return 1;
    }
    return serve(config);
  }
  const demo = await startDemoServers();
  say(`quickstart: started DEMO servers S1 on 127.0.0.1:${demo.ports[0]} and S2 on 127.0.0.1:${demo.ports[1]} (demo only)`);
  const { config, issues } = await loadConfigIsolated({ text: quickstartYaml(demo.ports), name: '<embedded quickstart>' });
  if (config === undefined) {
    for (const i of issues) process.stderr.write(formatIssue(i) + '\n');
    await demo.close();
    return 1;
  }
  say('quickstart: try `curl http://127.0.0.1:8080/` a few times and watch S1 and S2 alternate');
  return serve(config, () => demo.close());
}

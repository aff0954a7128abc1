/**
 * The `fulcrum` binary as a person types it: a mistyped command or option gets a
 * suggestion, `check` takes the file with or without -c, `--version` says which native
 * parts are active, and the bash completion script completes commands, options and
 * sub-commands when bash sources it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { CLI_PATH, runCli } from '../helpers/spawn.js';
import { tempDir } from '../helpers/files.js';

const SEED = fileURLToPath(new URL('../../../examples/seed.yaml', import.meta.url));
const BASH = spawnSync('bash', ['--version']).error === undefined ? false : 'bash is not installed';

test('a mistyped command or option gets a suggestion and exit status 2', async () => {
  const cmd = await runCli(['chekc']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command "chekc"; did you mean "check"\?/);
  const opt = await runCli(['status', '--jsno']);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option --jsno; did you mean --json\?/);
  const run = await runCli(['run', '--wrokers', '2']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /did you mean --workers\?/);
  const far = await runCli(['status', '--xyzzy']);
  assert.match(far.stderr, /unknown option --xyzzy\n/, 'no suggestion when nothing is close');
});

test('check takes the configuration file with or without -c', async () => {
  for (const args of [['check', SEED], ['check', '-c', SEED]]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration OK/);
  }
  const two = await runCli(['check', '-c', SEED, SEED]);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /give one configuration file/);
});

test('--version names the Node.js version and the native parts', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(`^fulcrum \\d+\\.\\d+\\.\\d+ \\(Node\\.js ${process.version.replace(/\./g, '\\.')}; native streams, TLS and TCP relay: (on|off \\(.+\\)); raw sockets for VRRP: (on|off \\(.+\\))\\)\\n$`));
});

test('bash completion: commands, each command\'s options, sub-commands and shells', { skip: BASH }, () => {
  const complete = (...words: string[]) => {
    const script = `source <("${process.execPath}" "${CLI_PATH}" completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _fulcrum; echo "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split(' ').filter((w) => w !== '');
  };
  assert.deepEqual(complete('fulcrum', 'sta'), ['status']);
  assert.deepEqual(complete('fulcrum', 'd').sort(), ['dataplane', 'demo', 'dsr-server']);
  assert.deepEqual(complete('fulcrum', 'status', '--j'), ['--json']);
  assert.deepEqual(complete('fulcrum', 'run', '--w'), ['--workers']);
  assert.deepEqual(complete('fulcrum', 'dataplane', 'w'), ['which']);
  assert.deepEqual(complete('fulcrum', 'completion', 'z'), ['zsh']);
  const zsh = spawnSync(process.execPath, [CLI_PATH, 'completion', 'zsh'], { encoding: 'utf8' });
  assert.equal(zsh.status, 0);
  assert.match(zsh.stdout, /^#compdef fulcrum\n/);
  const none = spawnSync(process.execPath, [CLI_PATH, 'completion', 'fish'], { encoding: 'utf8' });
  assert.equal(none.status, 2);
});

test('run without -c reads FULCRUM_CONFIG (else /etc/fulcrum/fulcrum.yaml) and never starts the demo by accident', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnCli } = await import('../helpers/spawn.js');
  const dir = tempDir('fulcrum-cli-', t).dir;
  const missing = spawnSync(process.execPath, [CLI_PATH, 'run'], { encoding: 'utf8', env: { ...process.env, FULCRUM_CONFIG: join(dir, 'none.yaml') }, timeout: 20_000 });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no configuration: give one with -c FILE, or put it at .*none\.yaml.*fulcrum demo/);
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, ['listeners: [{ name: www, bind: "127.0.0.1:0", routes: [{ pool: web }] }]', 'pools: { web: { servers: [{ address: "127.0.0.1:9" }] } }', 'runtime: { workers: 1, control_socket: false }', ''].join('\n'));
  const cli = await spawnCli(['run'], { env: { ...process.env, FULCRUM_CONFIG: file } });
  t.after(() => cli.stop());
  assert.match(cli.stderr(), new RegExp(`using the configuration ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(no -c given\\)`));
});

test('demo runs the embedded quickstart: S1 and S2 answer in turn', async (t) => {
  const { spawnCli } = await import('../helpers/spawn.js');
  const { freePort } = await import('../helpers/ports.js');
  const port = await freePort();
  const cli = await spawnCli(['demo', '--listen', `127.0.0.1:${port}`]);
  t.after(() => cli.stop());
  const names: string[] = [];
  for (let i = 0; i < 4; i++) names.push((await (await fetch(`http://127.0.0.1:${port}/`)).text()).slice(0, 'Hello from S1'.length));
  assert.deepEqual(new Set(names), new Set(['Hello from S1', 'Hello from S2']));
  assert.notEqual(names[0], names[1]);
});

test('the man page is generated from the help texts and renders without a groff warning', async (t) => {
  const GROFF = spawnSync('groff', ['--version'], { stdio: 'ignore' }).error === undefined;
  const page = spawnSync(process.execPath, [CLI_PATH.replace(/main\.js$/, 'man.js')], { encoding: 'utf8' });
  assert.equal(page.status, 0, page.stderr);
  assert.match(page.stdout, /^\.TH FULCRUM 1 /);
  for (const cmd of ['run', 'demo', 'check', 'proxy', 'reload', 'dataplane', 'dsr-server', 'completion']) assert.match(page.stdout, new RegExp(`\\.B ${cmd}\\b`), `${cmd} in COMMANDS`);
  for (const section of ['RUN', 'DEMO', 'CHECK', 'PROXY', 'RELOAD, STOP, STATUS', 'DATAPLANE', 'DSR-SERVER', 'FILES', 'ENVIRONMENT']) assert.match(page.stdout, new RegExp(`^\\.SH ${section}$`, 'm'));
  if (!GROFF) return t.skip('groff is not installed: the page was not rendered');
  const render = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: page.stdout, encoding: 'utf8' });
  assert.equal(render.status, 0);
  assert.equal(render.stderr, '', 'groff warnings');
});

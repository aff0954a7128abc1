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
import { CLI_PATH } from '../helpers/spawn.js';
import { runCli } from '../helpers/runtime.js';

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
  assert.deepEqual(complete('fulcrum', 'd').sort(), ['dataplane', 'dsr-server']);
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

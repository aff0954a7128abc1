/**
 * Fulcrum under systemd: the unit file passes `systemd-analyze verify`, and the readiness
 * protocol is spoken as a Type=notify service expects, checked by running Fulcrum with
 * NOTIFY_SOCKET pointing at a Unix datagram socket the test reads (through python3, as
 * Node has no Unix datagram sockets): READY=1 with STATUS= and MAINPID= once listening,
 * WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP reload,
 * STOPPING=1 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeRelayMissing } from '../../src/io/native-relay.js';
import { CLI_PATH, spawnCli } from '../helpers/spawn.js';
import { tempDir } from '../helpers/files.js';

const UNIT = fileURLToPath(new URL('../../../contrib/systemd/fulcrum.service', import.meta.url));
const has = (bin: string, ...args: string[]) => spawnSync(bin, args, { stdio: 'ignore' }).error === undefined;
const ANALYZE = has('systemd-analyze', '--version') ? false : 'systemd-analyze is not installed (Debian package systemd)';
const PYTHON = has('python3', '--version') ? false : 'python3 is not installed';
/** This checkout's fulcrum as a unit's command (node and the script: the script need not be executable). */
const BIN = `${process.execPath} ${CLI_PATH}`;
const NATIVE = nativeRelayMissing() === '' ? false : `the native addon sends the datagrams: ${nativeRelayMissing()}`;

test('the unit file passes systemd-analyze verify', { skip: ANALYZE }, (t) => {
  const dir = tempDir('fulcrum-unit-', t).dir;
  const unit = join(dir, 'fulcrum.service');
  // the packaged binary's path does not exist here: point at this checkout's
  writeFileSync(unit, readFileSync(UNIT, 'utf8').replaceAll('/usr/bin/fulcrum', BIN));
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '');
  const text = readFileSync(UNIT, 'utf8');
  for (const line of ['Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID', 'KillMode=mixed', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'ProtectSystem=strict', 'WatchdogSec=']) {
    assert.ok(text.includes(line), `the unit has ${line}`);
  }
});

test('systemd-unit: a unit with just the capabilities the configuration needs, and it verifies', { skip: ANALYZE }, (t) => {
  const dir = tempDir('fulcrum-unit-', t).dir;
  const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));
  const cases: Array<[string, RegExp, RegExp]> = [
    ['seed.yaml', /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m, /^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$/m],
    ['vrrp.yaml', /^AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW$/m, /^RestrictAddressFamilies=.* AF_PACKET$/m],
  ];
  for (const [name, caps, families] of cases) {
    const r = spawnSync(process.execPath, [CLI_PATH, 'systemd-unit', '-c', join(examples, name)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, caps, name);
    assert.match(r.stdout, families, name);
    assert.match(r.stdout, new RegExp(`^ExecStart=/usr/bin/fulcrum run -c ${join(examples, name).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    const unit = join(dir, 'fulcrum.service');
    writeFileSync(unit, r.stdout.replaceAll('/usr/bin/fulcrum', BIN));
    const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
  }
});

test('sd_notify: READY=1 when listening, WATCHDOG=1, RELOADING=1 and READY=1 around a reload, STOPPING=1', { skip: PYTHON || NATIVE, timeout: 30_000 }, async (t) => {
  const dir = tempDir('fulcrum-notify-', t).dir;
  const socket = join(dir, 'notify.sock');
  const receiver = spawn(
    'python3',
    ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound")\nwhile True: print(s.recv(65536).decode().replace("\\n","|"))', socket],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => receiver.kill('SIGKILL'));
  const lines: string[] = [];
  let buf = '';
  receiver.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const until = async (what: RegExp, from = 0, ms = 10_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const i = lines.findIndex((l, k) => k >= from && what.test(l));
      if (i >= 0) return i;
      if (Date.now() > end) throw new Error(`no ${what} from fulcrum within ${ms} ms; got ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(/^bound$/);
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, ['listeners: [{ name: www, bind: "127.0.0.1:0", routes: [{ pool: web }] }]', 'pools: { web: { servers: [{ address: "127.0.0.1:9" }] } }', 'runtime: { workers: 1, control_socket: false }', ''].join('\n'));
  const cli = await spawnCli(['run', '-c', file], { env: { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '300000' } });
  t.after(() => cli.stop());
  const ready = await until(/READY=1/);
  assert.match(lines[ready]!, new RegExp(`^READY=1\\|STATUS=generation 1: 1 listener\\(s\\), 1 worker\\(s\\)\\|MAINPID=${cli.pid}$`));
  await until(/^WATCHDOG=1$/, ready, 2000);
  process.kill(cli.pid, 'SIGHUP');
  const reloading = await until(/^RELOADING=1\|MONOTONIC_USEC=\d+\|STATUS=reloading/, ready + 1);
  const again = await until(/^READY=1\|STATUS=generation 2:/, reloading + 1);
  await cli.stop();
  await until(/^STOPPING=1\|STATUS=stopping \(SIGTERM\)$/, again + 1);
});

/**
 * The public-API fallbacks of src/io: a proxy whose self-test finds Node's internals
 * missing (simulated with FULCRUM_IO_DISABLE) still answers HTTP and relays TCP, and
 * says in one log line per internal what it uses instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { spawnCli } from '../helpers/spawn.js';
import { roundTrip } from '../helpers/http-client.js';

async function listen(t: TestContext, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

function get(port: number, path: string, agent: http.Agent): Promise<{ status: number; body: string; name: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, name: res.headers['x-name'] as string | undefined }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}


// onconnection is only used where the addon does not take the listeners: it goes with addon
for (const disable of ['all', 'tcp_wrap,onread,fast_buffer', 'onconnection,addon', 'tcp_wrap,addon', 'onread,fast_buffer,addon']) {
  test(`FULCRUM_IO_DISABLE=${disable}: HTTP and TCP still answer, with one log line per missing internal`, { timeout: 30_000 }, async (t) => {
    const web = http.createServer((req, res) => {
      res.setHeader('x-name', 'cafe'); // a head parsed and written by the latin1 methods
      res.end(`hello ${req.url}`);
    });
    const webPort = await listen(t, web);
    const echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    const echoPort = await listen(t, echo);
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-io-fallback-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'io.yaml');
    writeFileSync(
      file,
      [
        'listeners:',
        '  - { name: web, bind: "127.0.0.1:0", mode: http, routes: [{ pool: web }] }',
        '  - { name: echo, bind: "127.0.0.1:0", mode: tcp, routes: [{ pool: echo }] }',
        'pools:',
        `  web: { servers: [{ address: "127.0.0.1:${webPort}" }] }`,
        `  echo: { servers: [{ address: "127.0.0.1:${echoPort}" }] }`,
        'runtime: { workers: 1, control_socket: false }',
        '',
      ].join('\n'),
    );
    const cli = await spawnCli(['run', '-c', file], { listeners: 2, env: { ...process.env, FULCRUM_IO_DISABLE: disable } });
    t.after(() => cli.stop());
    const httpPort = cli.listeners.find((l) => l.name === 'web')!.port;
    const tcpPort = cli.listeners.find((l) => l.name === 'echo')!.port;

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (let i = 0; i < 3; i++) {
      const r = await get(httpPort, `/x${i}`, agent); // keep-alive: one connection, three requests
      assert.equal(r.status, 200);
      assert.equal(r.body, `hello /x${i}`);
      assert.equal(r.name, 'cafe');
    }
    const fresh = await get(httpPort, '/new', new http.Agent({ keepAlive: false }));
    assert.equal(fresh.status, 200);
    for (let i = 0; i < 3; i++) assert.equal(await roundTrip(tcpPort, `bytes ${i} through fulcrum`), `bytes ${i} through fulcrum`);
    const big = 'x'.repeat(1 << 20);
    assert.equal((await roundTrip(tcpPort, big)).length, big.length);

    const err = cli.stderr();
    const names = disable === 'all' ? ['tcp_wrap', 'onread', 'onconnection', 'fast_buffer', 'addon'] : disable.split(',');
    for (const name of names) {
      const lines = err.split('\n').filter((l) => l.includes(`io: Node internal ${name} is not usable`));
      assert.ok(lines.length >= 1, `a log line for ${name} in:\n${err}`);
      // once per process: the worker (and at most the primary, which loads the addon for sd_notify)
      assert.ok(lines.length <= 2, `at most one line per process for ${name}:\n${err}`);
      assert.match(lines[0]!, /using .+ instead/);
    }
    for (const name of ['tcp_wrap', 'onread', 'onconnection', 'fast_buffer', 'addon'].filter((n) => !names.includes(n))) {
      assert.ok(!err.includes(`io: Node internal ${name} is not usable`), `no line for ${name}:\n${err}`);
    }
  });
}

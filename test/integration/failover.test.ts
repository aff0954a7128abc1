import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.js';
import { spawnCli, type SpawnedCli } from '../helpers/spawn.js';
import { tempDir } from '../helpers/files.js';

const SERVER_SCRIPT = fileURLToPath(new URL('../fixtures/web-server.js', import.meta.url));
const INTERVAL_MS = 500;
const TIMEOUT_MS = 250;
const RISE = 2;
const FALL = 2;
const JITTER = 0.1;

/** Starts a web-server process and resolves once it listens. */
async function startServer(port: number, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SERVER_SCRIPT, String(port), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 5000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', () => reject(new Error(`${name} exited early`)));
  });
  return child;
}

async function killProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await gone;
}

/** Resolves with the time (ms) at which `text` shows up in the balancer's stderr after `since`. */
async function waitForLog(cli: SpawnedCli, text: string, fromOffset: number, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (cli.stderr().indexOf(text, fromOffset) >= 0) return Date.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`"${text}" not logged within ${limitMs} ms; stderr:\n${cli.stderr()}`);
}

test('killing S1 under load: zero failed responses, down within fall x interval + timeout, back within rise x interval', { timeout: 60_000 }, async (t) => {
  const dir = tempDir('fulcrum-failover-', t).dir;
  const [p1, p2] = [await freePort(), await freePort()];
  let s1 = await startServer(p1, 'S1');
  const s2 = await startServer(p2, 'S2');
  t.after(async () => {
    await killProcess(s1, 'SIGKILL');
    await killProcess(s2, 'SIGKILL');
  });
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{pool: web}]
pools:
  web:
    retries: 2
    health:
      interval: ${INTERVAL_MS}ms
      fast_interval: 100ms
      timeout: ${TIMEOUT_MS}ms
      jitter: ${JITTER}
      rise: ${RISE}
      fall: ${FALL}
    servers:
      - {name: s1, address: "127.0.0.1:${p1}"}
      - {name: s2, address: "127.0.0.1:${p2}"}
`,
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());

  // A bounded load: 8 keep-alive clients, each looping until told to stop (at most 60 s).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  const seen = { S1: 0, S2: 0 };
  const failures: string[] = [];
  let total = 0;
  let running = true;
  const loadUntil = Date.now() + 30_000;
  const client = async () => {
    while (running && Date.now() < loadUntil) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: cli.port, path: '/', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            total++;
            if (res.statusCode !== 200) failures.push(`status ${res.statusCode}: ${body.trim()}`);
            else seen[body.trim() as 'S1' | 'S2']++;
            resolve();
          });
        });
        req.on('error', (err) => {
          total++;
          failures.push(`error ${err.message}`);
          resolve();
        });
      });
    }
  };
  const clients = Array.from({ length: 8 }, client);

  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(seen.S1 > 0 && seen.S2 > 0, `both servers serve before the kill: ${JSON.stringify(seen)}`);

  // Kill S1 hard, mid-load.
  const offset = cli.stderr().length;
  const killedAt = Date.now();
  await killProcess(s1, 'SIGKILL');
  const downAt = await waitForLog(cli, 'server s1 is down', offset, 10_000);
  const downMs = downAt - killedAt;
  const downLimit = FALL * INTERVAL_MS * (1 + JITTER) + TIMEOUT_MS + 200;
  t.diagnostic(`S1 marked down ${downMs} ms after SIGKILL (limit fall x interval + timeout = ${downLimit} ms incl. jitter and 200 ms slack)`);
  assert.ok(downMs <= downLimit, `down after ${downMs} ms > ${downLimit} ms`);

  await new Promise((r) => setTimeout(r, 1000));
  const s1WhileDown = seen.S1;

  // Restart S1 on the same port.
  const offset2 = cli.stderr().length;
  s1 = await startServer(p1, 'S1');
  const restartedAt = Date.now();
  const upAt = await waitForLog(cli, 'server s1 is up', offset2, 10_000);
  const upMs = upAt - restartedAt;
  const upLimit = RISE * INTERVAL_MS * (1 + JITTER) + 200;
  t.diagnostic(`S1 back in rotation ${upMs} ms after restart (limit rise x interval = ${upLimit} ms incl. jitter and 200 ms slack)`);
  assert.ok(upMs <= upLimit, `up after ${upMs} ms > ${upLimit} ms`);

  await new Promise((r) => setTimeout(r, 1000));
  running = false;
  await Promise.all(clients);
  t.diagnostic(`${total} responses: S1 ${seen.S1}, S2 ${seen.S2}, failed ${failures.length}`);
  assert.deepEqual(failures, [], 'zero failed responses');
  assert.ok(seen.S1 > s1WhileDown, 'S1 serves again after it came back');
});

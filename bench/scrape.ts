/**
 * The time one scrape of the metrics takes (`Primary.metrics()`, what the admin
 * listener's GET /metrics answers) with 10 pools of 10 servers and two workers: idle,
 * then while wrk loads every pool through the balancer. The primary runs in this process.
 *
 *   npm run bench -- scrape      (BENCH_DURATION: the loaded phase, default 15s)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigText } from '../src/config/load.js';
import { Primary, setupWorkers } from '../src/runtime/primary.js';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, EnvironmentError, log, type Benchmark } from './lib/benchmark.js';
import { peerScript } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { startProcess, type ManagedProcess } from './lib/process.js';
import { makeTempDir } from './lib/tmp.js';

const POOLS = 10;
const SERVERS = 10;
const IDLE_SCRAPES = 20;
/** Between scrapes under load (Prometheus scrapes every 15 s; this samples the load). */
const SCRAPE_EVERY_MS = 200;

function configYaml(firstPort: number): string {
  let routes = '';
  let pools = '';
  for (let p = 0; p < POOLS; p++) {
    routes += `      - { path: /p${p}/, pool: p${p} }\n`;
    pools += `  p${p}:\n    health: { type: http, interval: 1s, timeout: 500ms, http: { path: /health } }\n    servers:\n`;
    for (let s = 0; s < SERVERS; s++) pools += `      - { name: s${s}, address: "127.0.0.1:${firstPort + p * SERVERS + s}" }\n`;
  }
  return `listeners:\n  - name: www\n    bind: 127.0.0.1:0\n    routes:\n${routes}pools:\n${pools}runtime: { workers: 2, control_socket: false }\nlogging: { level: warn }\n`;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(s.length * q))]!.toFixed(1);
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${s.at(-1)!.toFixed(1)} ms (${s.length} scrapes)`;
}

async function timed(primary: Primary): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const r = await primary.metrics(false);
  return { ms: performance.now() - t0, bytes: r.body.length };
}

async function run(): Promise<number> {
  const { wrk } = await ensureDebianTools([{ bin: 'wrk', pkg: 'wrk' }]);
  const duration = envDuration('BENCH_DURATION', '15s');
  const tmp = makeTempDir('fulcrum-bench-scrape');
  const firstPort = 20000 + (process.pid % 20) * 200;
  let backends: ManagedProcess | undefined;
  let primary: Primary | undefined;
  try {
    backends = await startProcess('backends', process.execPath, [peerScript('many-backends'), String(firstPort), String(POOLS * SERVERS)]);
    const deadline = Date.now() + 10_000;
    while (!backends.stdout.includes('ready')) {
      if (Date.now() > deadline || backends.hasExited) throw new EnvironmentError(`the backends did not start: ${backends.outputTail()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const { config, issues } = loadConfigText(configYaml(firstPort), 'scrape.yaml');
    if (config === undefined) throw new Error(issues.map((i) => i.message).join('; '));
    setupWorkers([...NODE_FLAGS]);
    primary = new Primary(config, { workers: 2, reload: async () => ({ config, issues: [] }) });
    await primary.start();
    const port = primary.listeners()[0]!.port;
    const idle: number[] = [];
    let bytes = 0;
    for (let i = 0; i < IDLE_SCRAPES; i++) {
      const r = await timed(primary);
      idle.push(r.ms);
      bytes = r.bytes;
    }
    const lua = join(tmp.path, 'pools.lua');
    writeFileSync(lua, `n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format("GET", "/p" .. (n % ${POOLS}) .. "/x")\nend\n`);
    const load = spawn(wrk!, ['-t1', '-c50', `-d${duration.text}`, '-s', lua, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let wrkOut = '';
    load.stdout.on('data', (d: Buffer) => (wrkOut += d.toString()));
    const loadDone = new Promise((r) => load.once('exit', r));
    let running = true;
    void loadDone.then(() => (running = false));
    await new Promise((r) => setTimeout(r, 2000));
    const loaded: number[] = [];
    while (running) {
      loaded.push((await timed(primary)).ms);
      await new Promise((r) => setTimeout(r, SCRAPE_EVERY_MS));
    }
    await loadDone;
    const rps = /Requests\/sec:\s*([\d.]+)/.exec(wrkOut)?.[1] ?? '?';
    log(`[scrape] ${POOLS} pools x ${SERVERS} servers, 2 workers: exposition ${bytes} bytes`);
    log(`[scrape] idle:       ${summary(idle)}`);
    log(`[scrape] under load: ${summary(loaded.slice(0, -1))} (wrk -c50: ${rps} req/s)`);
    return 0;
  } finally {
    await primary?.stop();
    await backends?.stop();
    await tmp.remove();
  }
}

export const scrapeBenchmark: Benchmark = {
  name: 'scrape',
  summary: 'the time of one metrics scrape (10 pools x 10 servers, 2 workers), idle and under wrk load',
  run,
};

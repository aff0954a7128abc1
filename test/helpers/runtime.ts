/**
 * Helpers for the runtime tests (workers, reload, shutdown, logs): backends that can be
 * slow or speak WebSocket, a config file to rewrite, a bounded load loop, and the CLI's
 * control commands run as real processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { CLI_PATH } from './spawn.js';

/** A free port for listeners that must keep their port across reloads (see ports.ts). */
export { freePort } from './ports.js';

export interface RuntimeBackend {
  name: string;
  port: number;
  /** Requests answered so far. */
  served: number;
  close(): Promise<void>;
}

/**
 * A server answering its name; `/slow?ms=N` answers after N ms; WebSocket upgrades get
 * an echo server that prefixes every message with the name.
 */
export async function runtimeBackend(name: string): Promise<RuntimeBackend> {
  const b = { name, port: 0, served: 0 } as RuntimeBackend;
  const server = http.createServer((req, res) => {
    req.resume();
    const ms = req.url?.startsWith('/slow') ? Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 1000) : 0;
    const answer = () => {
      b.served++;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), 'X-Served-By': name });
      res.end(name);
    };
    req.on('end', () => (ms > 0 ? setTimeout(answer, ms) : answer()));
  });
  server.keepAliveTimeout = 30_000;
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${name}:${String(data)}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as net.AddressInfo).port;
  b.close = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return b;
}

/** A temporary directory removed by `cleanup()`. */
export function tempDir(prefix: string): { dir: string; file(name: string): string; write(name: string, text: string): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name) => path.join(dir, name),
    write: (name, text) => {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** The first few failures, for the assertion message. */
  errors: string[];
}

/**
 * Requests `path` on `port` with `concurrency` keep-alive clients until `stop()` is
 * called, or `maxMs` or `maxRequests` is reached, whichever comes first.
 */
export function loadLoop(port: number, opts: { path?: string; concurrency?: number; maxMs: number; maxRequests: number }): { stop(): Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 4 });
  const result: LoadResult = { ok: 0, failed: 0, errors: [] };
  const deadline = Date.now() + opts.maxMs;
  let stopped = false;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: opts.path ?? '/', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) result.ok++;
          else fail(`status ${res.statusCode}`);
          resolve();
        });
        res.on('error', (e) => {
          fail(e.message);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        fail(e.message);
        resolve();
      });
    });
  const fail = (why: string) => {
    result.failed++;
    if (result.errors.length < 5) result.errors.push(why);
  };
  const worker = async () => {
    while (!stopped && Date.now() < deadline && result.ok + result.failed < opts.maxRequests) await one();
  };
  const workers = Array.from({ length: opts.concurrency ?? 4 }, worker);
  return {
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}

/** Runs `fulcrum ARGS` to completion (bounded by `timeoutMs`) and gives its exit code and output. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

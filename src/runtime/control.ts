/**
 * The control socket: a Unix socket owned by the primary, readable and writable by its
 * owner only (mode 0600), used by `fulcrum reload|stop|status`. One JSON request line
 * in, one JSON answer line out, then the connection ends.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import type { ServerOperation } from './api.js';

export type ControlCommand = 'status' | 'reload' | 'stop';

/** One request line: a command, or a runtime API operation (`fulcrum server ...`). */
export type ControlRequest = { command: ControlCommand } | { command: 'server'; operation: ServerOperation };

export interface ControlAnswer {
  ok: boolean;
  /** What happened, for people. */
  message: string;
  /** status: the report; reload: the configuration's problems when refused. */
  data?: unknown;
}

/**
 * Where the control socket lives when the configuration names none: fulcrum.sock in
 * $RUNTIME_DIRECTORY when systemd made one (RuntimeDirectory=fulcrum in the unit:
 * /run/fulcrum/fulcrum.sock), /run/fulcrum.sock for root, else fulcrum-UID.sock in
 * $XDG_RUNTIME_DIR or the temporary directory.
 */
export function defaultControlPath(): string {
  const systemd = process.env.RUNTIME_DIRECTORY?.split(':')[0];
  if (systemd !== undefined && systemd !== '') return path.join(systemd, 'fulcrum.sock');
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/fulcrum.sock';
  return path.join(process.env.XDG_RUNTIME_DIR ?? os.tmpdir(), `fulcrum-${uid}.sock`);
}

/** Answers one request (the primary's side). */
export type ControlHandler = (request: ControlRequest) => Promise<ControlAnswer>;

/** Whether something answers at `file` (a live instance), as opposed to a stale socket file. */
function alive(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: net.Server | null = null;

  constructor(
    readonly file: string,
    private readonly handle: ControlHandler,
  ) {}

  /**
   * Listens at the path, replacing a stale socket file. Rejects with a clear message
   * when another running instance answers there.
   */
  async start(): Promise<void> {
    if (fs.existsSync(this.file)) {
      if (await alive(this.file)) throw new Error(`control socket ${this.file} belongs to another running instance`);
      fs.rmSync(this.file, { force: true });
    }
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const server = net.createServer((sock) => this.serve(sock));
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.file, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    fs.chmodSync(this.file, 0o600);
    this.server = server;
  }

  private serve(sock: net.Socket): void {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('data', (s: string) => {
      buf += s;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) sock.destroy();
        return;
      }
      sock.pause();
      let request: { command?: unknown; operation?: unknown } = {};
      try {
        request = JSON.parse(buf.slice(0, nl)) as typeof request;
      } catch {
        // answered as an unknown command
      }
      const { command, operation } = request;
      const known = command === 'status' || command === 'reload' || command === 'stop' || (command === 'server' && typeof operation === 'object' && operation !== null);
      const answer = known
        ? this.handle(request as ControlRequest).catch((err: unknown): ControlAnswer => ({ ok: false, message: (err as Error).message }))
        : Promise.resolve<ControlAnswer>({ ok: false, message: `unknown command ${JSON.stringify(command)}: expected status, reload, stop or server` });
      void answer.then((a) => sock.end(JSON.stringify(a) + '\n'));
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      fs.rmSync(this.file, { force: true });
    } catch {
      // after runtime.user the directory may not be ours: the next start replaces the file
    }
  }
}

/** Sends one command (or request) to the instance at `file` and resolves with its answer. */
export function controlRequest(file: string, command: ControlCommand | ControlRequest, timeoutMs = 120_000): Promise<ControlAnswer> {
  const request: ControlRequest = typeof command === 'string' ? { command } : command;
  return new Promise((resolve, reject) => {
    const sock = net.connect(file);
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new Error(`no answer from ${file} within ${timeoutMs} ms`));
    });
    sock.once('connect', () => sock.write(JSON.stringify(request) + '\n'));
    sock.on('data', (s: string) => (buf += s));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no running instance answers there' : err.code === 'EACCES' ? 'permission denied (the socket belongs to another user)' : err.message;
      reject(new Error(`cannot reach the control socket ${file}: ${why}`));
    });
    sock.once('end', () => {
      try {
        resolve(JSON.parse(buf) as ControlAnswer);
      } catch {
        reject(new Error(`the instance at ${file} sent an answer that is not JSON: ${buf.slice(0, 200)}`));
      }
    });
  });
}

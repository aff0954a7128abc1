/**
 * Last-resort cleanup. Every spawned process and temp dir registers itself here; normal
 * code paths stop/remove them in try/finally, and this module catches the rest:
 * - on SIGINT/SIGTERM/SIGHUP it runs the asynchronous cleanups (SIGTERM, wait, SIGKILL)
 *   and exits 130/143/129 (a second signal exits at once);
 * - on process 'exit' (any exit, including an uncaught exception) it runs the
 *   synchronous cleanups (SIGKILL by pid, rmSync).
 */

export interface CleanupHandle {
  unregister(): void;
}

interface Entry {
  /** Lower runs first: processes (0) before the dirs they write into (1). */
  readonly order: number;
  readonly run: () => Promise<void>;
  readonly runSync: () => void;
}

export const ORDER_PROCESS = 0;
export const ORDER_FILES = 1;

const entries = new Set<Entry>();
let installed = false;
let shuttingDown = false;

/** True once a signal asked us to stop: callers should not start new work. */
export function isShuttingDown(): boolean {
  return shuttingDown;
}

/** Thrown by long loops once a signal asked us to stop, so that no partial results are written. */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

export function throwIfShuttingDown(): void {
  if (shuttingDown) throw new InterruptedError();
}

export function registerCleanup(order: number, run: () => Promise<void>, runSync: () => void): CleanupHandle {
  installCleanupHandlers();
  const entry: Entry = { order, run, runSync };
  entries.add(entry);
  return { unregister: () => void entries.delete(entry) };
}

/** Runs every registered cleanup, lowest order first; entries of one order in parallel. */
export async function cleanupAll(): Promise<void> {
  const orders = [...new Set([...entries].map((e) => e.order))].sort((a, b) => a - b);
  for (const order of orders) {
    const batch = [...entries].filter((e) => e.order === order);
    await Promise.allSettled(batch.map((e) => e.run()));
    for (const e of batch) entries.delete(e);
  }
}

function cleanupAllSync(): void {
  for (const e of [...entries].sort((a, b) => a.order - b.order)) {
    try {
      e.runSync();
    } catch {
      // best effort: we are exiting
    }
  }
  entries.clear();
}

export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  const codes: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      const code = codes[sig] ?? 1;
      if (shuttingDown) {
        process.stderr.write(`${sig} again: killing what is left and exiting\n`);
        process.exit(code);
      }
      shuttingDown = true;
      process.stderr.write(`\n${sig}: stopping benchmark processes and removing temp dirs...\n`);
      cleanupAll().finally(() => process.exit(code));
    });
  }
}

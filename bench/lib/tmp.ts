/** Temp dirs that are removed on every exit path. */
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORDER_FILES, registerCleanup } from './cleanup.js';

export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  let removed = false;
  const handle = registerCleanup(
    ORDER_FILES,
    async () => {
      if (removed) return;
      removed = true;
      await rm(path, { recursive: true, force: true });
    },
    () => {
      if (removed) return;
      removed = true;
      rmSync(path, { recursive: true, force: true });
    },
  );
  return {
    path,
    async remove() {
      handle.unregister();
      if (removed) return;
      removed = true;
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Temporary files for tests. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A temporary directory. */
export interface TempDir {
  dir: string;
  /** The path of `name` in the directory. */
  file(name: string): string;
  /** Writes `text` to `name` in the directory and returns its path. */
  write(name: string, text: string | Buffer): string;
  /** Removes the directory and everything in it. */
  cleanup(): void;
}

/** A new temporary directory named `prefix`XXXXXX, removed after the test when `t` is given. */
export function tempDir(prefix: string, t?: TestContext): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const td: TempDir = {
    dir,
    file: (name) => join(dir, name),
    write: (name, text) => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  t?.after(() => td.cleanup());
  return td;
}

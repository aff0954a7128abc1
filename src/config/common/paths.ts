import { dirname, isAbsolute, resolve } from 'node:path';

/**
 * A path from the configuration made absolute against the directory of the
 * configuration file `source`, so a configuration means the same files whatever the
 * working directory.
 */
export function filePath(path: string, source: string): string {
  return isAbsolute(path) ? path : resolve(dirname(source), path);
}

/**
 * htpasswd files of bcrypt hashes (`htpasswd -B`), read by route `basic_auth`: parsed the
 * same way by `fulcrum check` (which names the file, the line and the key) and by the
 * listener that uses it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** Users and their bcrypt hashes, or why the text is not such a file (the first bad line). */
export function parseHtpasswd(text: string): { users: Map<string, string> } | { badLine: number } {
  const users = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const hash = line.slice(colon + 1).trim();
    if (colon <= 0 || !BCRYPT.test(hash)) return { badLine: i + 1 };
    users.set(line.slice(0, colon), hash);
  }
  return { users };
}

/** What is wrong with the htpasswd file at `path` (relative to `baseDir`), or null. */
export function htpasswdProblem(path: string, baseDir: string): string | null {
  const file = resolve(baseDir, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `cannot read the htpasswd file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const r = parseHtpasswd(text);
  return 'badLine' in r ? `${file} line ${r.badLine}: expected USER:BCRYPT-HASH (make it with \`htpasswd -B\`); other hash kinds are not accepted` : null;
}

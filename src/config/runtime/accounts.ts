/**
 * User and group names for runtime.user/group, read from /etc/passwd and /etc/group (the
 * local files only: names that only NSS services such as LDAP know must be given as
 * numbers).
 */
import { readFileSync } from 'node:fs';

function entries(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** A user by name or number: its uid and primary gid. Throws when unknown. */
export function lookupUser(v: string | number): { uid: number; gid: number } {
  const users = entries('/etc/passwd');
  const byName = (e: string[]) => (typeof v === 'number' ? Number(e[2]) === v : e[0] === v);
  const e = users.find(byName);
  if (e !== undefined) return { uid: Number(e[2]), gid: Number(e[3]) };
  if (typeof v === 'number') return { uid: v, gid: v };
  throw new Error(`no user named \`${v}\` in /etc/passwd (give a number for users from other sources)`);
}

/** A group by name or number. Throws when unknown. */
export function lookupGroup(v: string | number): number {
  if (typeof v === 'number') return v;
  const e = entries('/etc/group').find((g) => g[0] === v);
  if (e === undefined) throw new Error(`no group named \`${v}\` in /etc/group (give a number for groups from other sources)`);
  return Number(e[2]);
}

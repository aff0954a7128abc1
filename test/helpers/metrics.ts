/** Reading a Prometheus text exposition in tests, and checking it with promtool. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = '/usr/bin/promtool';

/** One sample line: name, labels, value. */
export interface SampleLine {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of an exposition (comments skipped). */
export function parseSamples(text: string): SampleLine[] {
  const out: SampleLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `match`. */
export function sum(samples: SampleLine[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

/** The samples named `name` whose labels include `match`. */
export function find(samples: SampleLine[], name: string, match: Record<string, string> = {}): SampleLine[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** `promtool check metrics` on the text (stdin): its exit code and everything it printed. Null when promtool is not installed. */
export function promtoolCheck(text: string): { code: number | null; output: string } | null {
  if (!existsSync(PROMTOOL)) return null;
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** The lab's result for scripts: lab.json, the LabResult with each mode's title and explanation. */
import type { LabResult } from './lab.js';
import { MODES } from './modes.js';

export function jsonReport(r: LabResult): string {
  const modes = Object.fromEntries(r.modes.map((m) => [m, { title: MODES[m].title, explain: MODES[m].explain }]));
  return `${JSON.stringify({ version: 1, ...r, about: modes }, null, 2)}\n`;
}

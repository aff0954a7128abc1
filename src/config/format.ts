import type { ConfigIssue } from './types.js';

/**
 * One line for an issue: "FILE:LINE:COLUMN: PATH: MESSAGE", the form editors and CI
 * annotate. Without a position (line 0) it is "FILE: PATH: MESSAGE"; without a path
 * (YAML syntax errors) the "PATH: " part is left out.
 */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

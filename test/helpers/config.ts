/**
 * The two checks of the configuration tests: a text that loads without an issue, and the
 * issues of a text that is refused, each as "LINE:COLUMN PATH: MESSAGE".
 */
import assert from 'node:assert/strict';
import { formatIssue, loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

/** Loads `text` (named `file`); fails the test on any issue. */
export function configOk(text: string, file: string): Config {
  const { config, issues } = loadConfigText(text, file);
  assert.deepEqual(issues.map(formatIssue), []);
  assert.ok(config);
  return config;
}

/** Loads `text` (named `file`), which must be refused; returns its issues. */
export function configIssues(text: string, file: string): string[] {
  const result = loadConfigText(text, file);
  assert.equal(result.config, undefined, 'expected the file to be refused');
  return result.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

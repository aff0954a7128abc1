import type { LabResult } from './lab.js';
export function htmlReport(r: LabResult): string {
  return `<!doctype html><title>lab</title><pre>${JSON.stringify(r)}</pre>`;
}

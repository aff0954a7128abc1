import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { ErrorPages } from '../../config/types.js';
import { FulcrumError } from '../../core/errors.js';
import { TEXT_PLAIN } from '../http/local-response.js';

/** A body of the listener's own for one error status. */
export interface ErrorPage {
  readonly body: string;
  readonly type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.txt': TEXT_PLAIN,
};

/**
 * Reads a listener's `error_pages` (at start and at each reload, so a page is never read
 * per request); a file that cannot be read stops the start or the reload, named.
 */
export function loadErrorPages(listener: string, pages: ErrorPages): ReadonlyMap<number, ErrorPage> {
  const out = new Map<number, ErrorPage>();
  for (const [status, path] of Object.entries(pages) as Array<[string, string]>) {
    const page = readErrorPage(path);
    if (typeof page === 'string') throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${listener}: error_pages.${status}: ${page}`);
    out.set(Number(status), page);
  }
  return out;
}

/** One page, or why it cannot be read (also what `fulcrum check` says about the file). */
export function readErrorPage(path: string): ErrorPage | string {
  try {
    return { body: readFileSync(path, 'utf8'), type: TYPES[extname(path).toLowerCase()] ?? TEXT_PLAIN };
  } catch (err) {
    return `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}

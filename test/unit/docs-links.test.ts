/**
 * Every relative link in README.md and docs/**\/*.md resolves: the file (or directory)
 * exists, and a `#anchor` names a heading of the target page, by GitHub's rules
 * (lower case, spaces to hyphens, punctuation dropped, a repeated heading gets -1, -2).
 * Links in code blocks and code spans are not links; absolute URLs are not checked.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

/** The text outside fenced code blocks, line by line (code lines become empty). */
function proseLines(text: string): string[] {
  let fence: string | null = null;
  return text.split('\n').map((line) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m !== null) {
      if (fence === null) fence = m[1]!;
      else if (m[1]!.startsWith(fence)) fence = null;
      return '';
    }
    return fence === null ? line : '';
  });
}

/** A heading's anchor as GitHub makes it, from the heading's markdown text. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/[`*]/g, ''); // code spans and emphasis markers
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a markdown file's headings. */
function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (anchors !== undefined) return anchors;
  anchors = new Set();
  const seen = new Map<string, number>();
  for (const line of proseLines(readFileSync(path.join(root, file), 'utf8'))) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = githubSlug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** The link targets of a markdown file, with their line numbers. */
function linksOf(file: string): Array<{ line: number; target: string }> {
  const links: Array<{ line: number; target: string }> = [];
  proseLines(readFileSync(path.join(root, file), 'utf8')).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, ''); // code spans hold no links
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ line: i + 1, target: m[1]! });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (def !== null) links.push({ line: i + 1, target: def[1]! });
  });
  return links;
}

test('githubSlug follows GitHub: lower case, spaces to hyphens, punctuation dropped', () => {
  assert.equal(githubSlug('What passes through the balancer'), 'what-passes-through-the-balancer');
  assert.equal(githubSlug('Kernel data plane: NAT and DSR'), 'kernel-data-plane-nat-and-dsr');
  assert.equal(githubSlug('HTTPS and HTTP/2'), 'https-and-http2');
  assert.equal(githubSlug('`max_conn` and the queue'), 'max_conn-and-the-queue');
  assert.equal(githubSlug('HTTP proxy (`mode: http`)'), 'http-proxy-mode-http');
  assert.equal(githubSlug('Processes: the primary and its workers'), 'processes-the-primary-and-its-workers');
});

test('every relative link in README.md and docs/ resolves, anchors included', () => {
  const files = markdownFiles();
  assert.ok(files.length > 2, `found ${files.join(', ')}`);
  const problems: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const { line, target } of linksOf(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
      checked++;
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(pathPart)));
      const where = `${file}:${line}: ${target}`;
      if (resolved.startsWith('../') || path.posix.isAbsolute(resolved)) {
        problems.push(`${where}: points outside the repository`);
        continue;
      }
      const full = path.join(root, resolved);
      if (!existsSync(full)) {
        problems.push(`${where}: ${resolved} does not exist`);
        continue;
      }
      if (anchor === undefined || anchor === '') continue;
      if (statSync(full).isDirectory() || !resolved.endsWith('.md')) {
        problems.push(`${where}: an anchor into ${resolved}, which is not a markdown file`);
        continue;
      }
      if (!anchorsOf(resolved).has(anchor)) problems.push(`${where}: no heading in ${resolved} has the anchor #${anchor}`);
    }
  }
  assert.ok(checked > 50, `only ${checked} relative links found: is the link pattern still right?`);
  assert.deepEqual(problems, []);
});

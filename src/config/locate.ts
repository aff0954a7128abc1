/**
 * Maps a key path of the parsed data ("listeners", 0, "bind") back to a line and column
 * of the YAML text, so every issue can point at the place to edit.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type ParsedNode } from 'yaml';

/** A path into the data: map keys and list indexes. */
export type KeyPath = ReadonlyArray<string | number>;

/**
 * Writes a key path the way issues show it: "listeners[0].routes[1].pool". A key that is
 * not a plain identifier is quoted: 'pools["my pool"].servers'.
 */
export function formatPath(path: KeyPath): string {
  return path
    .map((s, i) => {
      if (typeof s === 'number') return `[${s}]`;
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) return `[${JSON.stringify(s)}]`;
      return i === 0 ? s : `.${s}`;
    })
    .join('');
}

/** A 1-based position in the text. */
export interface Position {
  line: number;
  column: number;
}

/**
 * The position of the node at `path`. With `at: 'key'` it is the key's own position
 * (for unknown or misnamed keys); otherwise the value's. A value left empty (`bind:`)
 * points at its key. When the path runs past what the document holds (a missing key), it
 * points at the deepest node that exists: the map that lacks the key. A document without
 * content gives line 0, column 0.
 */
export function locate(doc: Document.Parsed, lineCounter: LineCounter, path: KeyPath, at: 'key' | 'value' = 'value'): Position {
  let node: Node | null = doc.contents;
  let keyNode: Node | null = null;
  let exact = true;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc) ?? null;
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(segment));
      if (!pair) {
        exact = false;
        break;
      }
      keyNode = isScalar(pair.key) || isMap(pair.key) || isSeq(pair.key) ? (pair.key as Node) : null;
      node = (pair.value as Node | null) ?? null;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      keyNode = null;
      node = (node.items[segment] as Node | null) ?? null;
    } else {
      exact = false;
      break;
    }
  }
  const emptyValue = node === null || (isScalar(node) && node.value === null && !node.source);
  const target = (exact && at === 'key') || emptyValue ? (keyNode ?? node) : node;
  const offset = (target as ParsedNode | null)?.range?.[0];
  if (offset === undefined) return { line: 0, column: 0 };
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

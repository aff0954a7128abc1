/**
 * Writes docs/reference/configuration.md from the walked schema (walk.ts): one section
 * per top-level key, and one per node with a title of its own, each a table of its keys
 * with their type, default and description.
 */
import type { JsonSchema } from '../common/field-meta.js';

interface Section {
  title: string;
  path: string;
  description?: string;
  rows: string[];
}

const INTRO = `# Configuration reference

<!-- Generated from the schema in src/config by \`npm run docs:reference\`: do not edit by hand. -->

Fulcrum reads one YAML document. Every key is listed below with its type, its default
and what it does; keys not listed are refused, with a suggestion when one is close. A
configuration with errors is refused as a whole, each problem reported with the file,
line and key path to edit (\`fulcrum check FILE\` runs the same checks). Some keys
depend on others (a listener's \`mode\` decides which keys it may have, a pool's
\`balance\` which of \`hash\` and \`sticky\` apply): the descriptions say so.

How values are written:

- **duration**: a number with a unit, \`ms\`, \`s\`, \`m\` or \`h\`, largest first, each at
  most once: \`150ms\`, \`2s\`, \`1.5s\`, \`1m30s\`. Only \`0\` may be written without a unit.
- **size**: bytes, \`512\`, or a number with a unit: \`KB\`/\`k\`, \`MB\`/\`M\`, \`GB\`/\`G\` are
  powers of 1000, \`KiB\`, \`MiB\`, \`GiB\` powers of 1024 (\`16KiB\`, \`1MiB\`, \`64k\`).
- **seconds** (DNS TTLs, SOA timers, TLS session and HSTS lifetimes): a whole number of
  seconds, \`3600\`, or units from weeks to seconds, largest first: \`30s\`, \`5m\`, \`1h30m\`,
  \`1d\`, \`1w\`.
- **name** (listeners, pools, servers, services): 1 to 64 letters, digits, \`.\`, \`_\` or
  \`-\`, starting with a letter or digit.
- \`NAME\` in a key path stands for a name you choose (\`pools.web.servers\`), \`[]\` for
  each element of a list.

Editors that use yaml-language-server complete and check these keys from
[\`schema/fulcrum.schema.json\`](../../schema/fulcrum.schema.json): start the file with
\`# yaml-language-server: $schema=PATH/TO/fulcrum.schema.json\`.
`;

/** The reference as Markdown. */
export function renderMarkdown(root: JsonSchema): string {
  const sections: Section[] = [];
  for (const [key, node] of Object.entries(props(root))) {
    const section = open(sections, key, node, key);
    addRows(node, key, requiredOf(root).includes(key), section, sections, true);
  }
  const toc = sections.map((s) => `${s.path === s.title ? '- ' : '  - '}[${s.title}](#${anchor(s.title)})`).join('\n');
  const body = sections.map((s) => {
    const head = `${s.path.includes('.') || s.path.includes('[') ? '###' : '##'} ${s.title}`;
    const text = s.description ? `\n\n${s.description}` : '';
    const table = s.rows.length > 0 ? `\n\n| key | type | default | description |\n|---|---|---|---|\n${s.rows.join('\n')}` : '';
    return `${head}${text}${table}\n`;
  });
  return `${INTRO}\n## Contents\n\n${toc}\n\n${body.join('\n')}`;
}

function open(sections: Section[], title: string, node: JsonSchema, path: string): Section {
  const section: Section = { title, path, description: node.description as string | undefined, rows: [] };
  sections.push(section);
  return section;
}

function anchor(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

/**
 * Adds the row of `node` at `path`, then rows for the keys inside it: of a mapping, of
 * each element of a list, of each value of a record. A node with `x-title` opens a
 * section of its own.
 */
function addRows(node: JsonSchema, path: string, required: boolean, section: Section, sections: Section[], isRoot = false): void {
  let current = section;
  const [inner, innerPath] = container(node, path);
  const title = node['x-title'] ?? inner['x-title'];
  // a list's row says what its elements are, unless the list itself says more
  const described = node.description || inner === node ? node : { ...node, description: inner.description };
  if (title && !isRoot) {
    current = open(sections, title as string, {}, path);
    current.rows.push(row(described, path, required));
  } else if (!isRoot || !hasChildren(node)) {
    section.rows.push(row(described, path, required));
  }
  for (const [key, child] of Object.entries(props(inner))) {
    addRows(child, `${innerPath}.${key}`, requiredOf(inner).includes(key), current, sections);
  }
}

/** The mapping whose keys come below `node`, and the path prefix of those keys. */
function container(node: JsonSchema, path: string): [JsonSchema, string] {
  if (node.type === 'array') return container(node.items as JsonSchema, `${path}[]`);
  if (node.type === 'object' && !node.properties && typeof node.additionalProperties === 'object') {
    return container(node.additionalProperties as JsonSchema, `${path}.NAME`);
  }
  // `access_log`: a path, or a mapping whose keys are listed; not `hash`'s several one-key mappings
  const mappings = ((node.anyOf as JsonSchema[] | undefined) ?? []).filter((o) => o.type === 'object');
  return [mappings.length === 1 ? mappings[0]! : node, path];
}

function hasChildren(node: JsonSchema): boolean {
  return Object.keys(props(container(node, '')[0])).length > 0;
}

function props(node: JsonSchema): Record<string, JsonSchema> {
  return (node.properties as Record<string, JsonSchema> | undefined) ?? {};
}

function requiredOf(node: JsonSchema): string[] {
  return (node.required as string[] | undefined) ?? [];
}

function row(node: JsonSchema, path: string, required: boolean): string {
  const cells = [`\`${path}\``, typeText(node), defaultText(node, required), (node.description as string | undefined) ?? ''];
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`;
}

function defaultText(node: JsonSchema, required: boolean): string {
  if (node['x-default']) return node['x-default'] as string;
  if (node.default !== undefined) return `\`${typeof node.default === 'string' && /^[\w./@-]+$/.test(node.default) ? node.default : JSON.stringify(node.default)}\``;
  if (required) return 'required';
  return node.type === 'object' && node.properties ? '' : 'none';
}

/** The type in words: "duration", "`http` | `tcp`", "list of mapping". */
function typeText(node: JsonSchema): string {
  if (node['x-type']) return node['x-type'] as string;
  if (node.enum) return (node.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' | ');
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.anyOf) return (node.anyOf as JsonSchema[]).map(typeText).join(', or ');
  switch (node.type) {
    case 'array':
      return `list of ${typeText(node.items as JsonSchema)}`;
    case 'object':
      return node.properties ? 'mapping' : `mapping of names to ${typeText(node.additionalProperties as JsonSchema)}`;
    case 'integer':
      return 'integer';
    default:
      return String(node.type);
  }
}

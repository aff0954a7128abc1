/**
 * The configuration reference, generated from the schema alone: the Markdown page
 * docs/reference/configuration.md and the JSON Schema schema/fulcrum.schema.json that
 * editors use to complete and check configuration files. `npm run docs:reference` writes
 * both (main.ts); test/unit/config-reference.test.ts fails when the committed files differ.
 */
import { configSchema } from '../schema.js';
import type { JsonSchema } from '../common/field-meta.js';
import { renderMarkdown } from './markdown.js';
import { walk } from './walk.js';

/** Where the generated files go, relative to the package root. */
export const REFERENCE_FILES = { markdown: 'docs/reference/configuration.md', jsonSchema: 'schema/fulcrum.schema.json' } as const;

/** The command that regenerates them. */
export const REGENERATE = 'npm run docs:reference';

/** Both files' text. */
export function renderReference(): { markdown: string; jsonSchema: string } {
  const root = walk(configSchema);
  return { markdown: renderMarkdown(root), jsonSchema: `${JSON.stringify(jsonSchema(root), null, 2)}\n` };
}

/** The walked schema without the reference's own keys, with a header. */
function jsonSchema(root: JsonSchema): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Fulcrum configuration',
    description: `A Fulcrum configuration file (YAML). Generated from src/config by \`${REGENERATE}\`; see ${REFERENCE_FILES.markdown}.`,
    ...(strip(root) as JsonSchema),
  };
}

function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('x-')).map(([k, x]) => [k, strip(x)]));
}

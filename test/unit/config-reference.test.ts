/**
 * The generated configuration reference: the committed files match what the schema
 * produces now, and the JSON Schema accepts every example (and refuses what the loader
 * refuses by shape: unknown keys, wrong types).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { REFERENCE_FILES, REGENERATE, renderReference } from '../../src/config/reference/index.js';
import type { JsonSchema } from '../../src/config/common/field-meta.js';
import { Ajv } from 'ajv';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const rendered = renderReference();
const schema = JSON.parse(rendered.jsonSchema) as JsonSchema;
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

/** What a JSON Schema validator (ajv) finds wrong in `value`: "path keyword [detail]" per error. */
function schemaErrors(value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` ${(e.params as { additionalProperty: string }).additionalProperty}` : '';
    return `${e.instancePath === '' ? '(root)' : e.instancePath} ${e.keyword}${extra}`;
  });
}

describe('configuration reference', () => {
  for (const kind of ['markdown', 'jsonSchema'] as const) {
    test(`${REFERENCE_FILES[kind]} is up to date`, () => {
      let committed = '';
      try {
        committed = readFileSync(root + REFERENCE_FILES[kind], 'utf8');
      } catch {
        // reported below
      }
      assert.ok(committed === rendered[kind], `${REFERENCE_FILES[kind]} differs from what the configuration schema produces: run \`${REGENERATE}\` and commit the result`);
    });
  }

  test('every example validates against the JSON Schema and names it on its first line', () => {
    const dir = `${root}examples/`;
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length > 5);
    for (const file of files) {
      const text = readFileSync(dir + file, 'utf8');
      assert.equal(text.split('\n')[0], '# yaml-language-server: $schema=../schema/fulcrum.schema.json', file);
      assert.deepEqual(schemaErrors(parse(text, { merge: true })), [], file);
    }
  });

  test('the JSON Schema refuses unknown keys and wrong types, and accepts the written forms', () => {
    const ok = { listeners: [{ name: 'www', bind: ':80', routes: [{ pool: 'web' }], timeouts: { header: '1m30s' } }], pools: { web: { servers: [{ address: '192.0.2.1:80' }], tls: true } }, limits: { header_size: '16KiB' } };
    assert.deepEqual(schemaErrors(ok), []);
    assert.deepEqual(schemaErrors({ ...ok, listners: [] }), ['(root) additionalProperties listners']);
    assert.deepEqual(schemaErrors({ ...ok, logging: { level: 'loud' } }), ['/logging/level enum']);
    assert.ok(schemaErrors({ ...ok, runtime: { drain_timeout: 'soon' } }).some((e) => e.startsWith('/runtime/drain_timeout ')));
    assert.deepEqual(schemaErrors({ ...ok, pools: { web: { servers: [] } } }), ['/pools/web/servers minItems']);
  });

  test('every key has a description', () => {
    const missing: string[] = [];
    const visit = (node: JsonSchema, path: string): void => {
      for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
        if (!child.description) missing.push(`${path}${key}`);
        visit(child, `${path}${key}.`);
        if (child.items) visit(child.items as JsonSchema, `${path}${key}[].`);
        if (typeof child.additionalProperties === 'object') visit(child.additionalProperties as JsonSchema, `${path}${key}.NAME.`);
        for (const alt of (child.anyOf ?? []) as JsonSchema[]) visit(alt, `${path}${key}.`);
      }
    };
    visit(schema, '');
    assert.deepEqual(missing, []);
  });
});

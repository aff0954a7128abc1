import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEach, parseFields } from '../../src/config/common/parsed.js';
import { serverFields } from '../../src/config/pools/schema.js';

describe('parseFields: what the cross-checks read', () => {
  it('gives each field as its schema parses it: defaults filled in, rejected values left out', () => {
    const s = parseFields(serverFields, { address: '192.0.2.11:80', weight: 300, max_conn: 'x' })!;
    assert.deepEqual(s.fields.address, { host: '192.0.2.11', port: 80 });
    assert.equal(s.fields.backup, false);
    assert.equal(s.fields.weight, undefined);
    assert.equal(s.fields.max_conn, undefined);
    assert.equal(s.fields.name, undefined);
  });

  it('tells a key the file writes from a default, a rejected value counting as written', () => {
    const s = parseFields(serverFields, { address: '192.0.2.11:80', backup: false, weight: 300 })!;
    assert.ok(s.given('backup'));
    assert.ok(s.given('weight'));
    assert.ok(!s.given('max_conn'));
  });

  it('skips what is not a mapping, and parses a mapping once per schema', () => {
    const raw = { address: '192.0.2.11:80' };
    assert.deepEqual(parseEach(serverFields, [raw, 'x', null]).map((s) => s === undefined), [false, true, true]);
    assert.equal(parseFields(serverFields, raw), parseFields(serverFields, raw));
  });
});

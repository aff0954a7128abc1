/**
 * Field-name lookups on the hot path: head.ts's ids for the fields the proxy acts on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H, headerId, NAMES } from '../../src/proxy/http/header-ids.js';

/** `s` with every other letter upper-case, starting with the first. */
function mixed(s: string): string {
  return [...s].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');
}

test('headerId: each acted-on field in any case, and nothing that only looks like one', () => {
  assert.equal(NAMES.length, 17, 'every id but OTHER has its name');
  for (const [name, id] of NAMES) {
    for (const form of [name, name.toUpperCase(), mixed(name)]) assert.equal(headerId(form), id, form);
    // the same length and first letter, one character off: the last, or one in the middle
    const last = name.slice(0, -1) + (name.endsWith('z') ? 'y' : 'z');
    const middle = name.length > 2 ? name.slice(0, 1) + '_' + name.slice(2) : name + 'x';
    assert.equal(headerId(last), H.OTHER, last);
    assert.equal(headerId(middle), H.OTHER, middle);
  }
  for (const other of ['', 'x', '-host', '1e', 'server', 'date', 'content-type', 'x'.repeat(40), 'HOST\u00e9'.slice(0, 4) + '\u00e9', 'h\u00f6st']) {
    assert.equal(headerId(other), H.OTHER, JSON.stringify(other));
  }
});

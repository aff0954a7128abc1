/**
 * Field-name lookups on the hot path: head.ts's ids for the fields the proxy acts on, and
 * HTTP/2's lower-case names (the static table's own strings for the common ones).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { H, headerId, NAMES } from '../../src/proxy/http/header-ids.js';
import { lowerName } from '../../src/proxy/http2/lower-names.js';
import { STATIC_TABLE } from '../../src/proxy/http2/wire/hpack.js';

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

test('lowerName: the static table names as the table spells them (the same string), other names lower-cased', () => {
  for (const [name] of STATIC_TABLE) {
    if (name.startsWith(':')) continue;
    for (const form of [name, name.toUpperCase(), mixed(name)]) assert.equal(lowerName(form), name, form);
  }
  for (const [form, lower] of [
    ['X-Custom-Thing', 'x-custom-thing'],
    ['Dates', 'dates'],
    ['Servers', 'servers'],
    ['Content-Typo', 'content-typo'],
    ['ETAG2', 'etag2'],
    ['\u00c0-Field', '\u00e0-field'],
    ['1-digit-first', '1-digit-first'],
    ['', ''],
  ] as const) {
    assert.equal(lowerName(form), lower, form);
  }
});

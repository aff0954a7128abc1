/** Basic authentication's htpasswd file: bcrypt hashes only, and a clear error for anything else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import bcrypt from 'bcryptjs';
import { BasicAuth } from '../../src/proxy/http/basic-auth.js';
import { tempDir } from '../helpers/files.js';

test('an htpasswd file that is missing or holds another kind of hash is refused with the file and line', (t) => {
  const dir = tempDir('fulcrum-htpasswd-', t);
  assert.throws(() => new BasicAuth('r', dir.file('none'), 'listener www route api'), /listener www route api: cannot read the htpasswd file .*none: ENOENT/);
  const md5 = dir.write('md5', `# users\nalice:${bcrypt.hashSync('x', 4)}\nbob:$apr1$abc$defghijklmnopqrstuvwx\n`);
  assert.throws(() => new BasicAuth('r', md5, 'listener www route api'), /md5 line 3: expected USER:BCRYPT-HASH \(make it with `htpasswd -B`\)/);
  assert.throws(() => new BasicAuth('r', dir.write('bare', 'alice\n'), 'x'), /bare line 1: expected USER:BCRYPT-HASH/);
});

test('malformed credentials are refused at once; right ones pass and are remembered', async (t) => {
  const dir = tempDir('fulcrum-htpasswd-', t);
  const auth = new BasicAuth('Staff', dir.write('ok', `alice:${bcrypt.hashSync('wonderland', 4)}\n`), 'x');
  for (const bad of [undefined, '', 'Basic', 'Basic !!!', 'Bearer abc', `Basic ${Buffer.from('no colon').toString('base64')}`]) assert.equal(auth.check(bad), false, String(bad));
  const good = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;
  assert.equal(await auth.check(good), true);
  assert.equal(auth.check(good), true, 'remembered: no bcrypt comparison the second time');
  assert.equal(await auth.check(`Basic ${Buffer.from('alice:nope').toString('base64')}`), false);
  assert.equal(auth.challenge, 'Basic realm="Staff", charset="UTF-8"');
});

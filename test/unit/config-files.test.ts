/**
 * `fulcrum check` (and the start and every reload) reads the files a configuration names
 * before anything starts: TLS certificates and keys, error pages, pools' CA bundles and
 * client certificates, with the line and key path of the one at fault. These used to
 * pass the check and stop `fulcrum run` at start.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatIssue, loadConfigFile } from '../../src/config/load.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { tempDir } from '../helpers/files.js';

function yaml(tls: string, errorPages: string, poolTls: string): string {
  return `listeners:
  - name: www
    bind: 127.0.0.1:8443
    tls:
      certificates:
${tls}
${errorPages}
    routes: [{ pool: web }]
pools:
  web:
${poolTls}
    servers: [{ address: "127.0.0.1:9001" }]
`;
}

describe('configuration files', { skip: NO_OPENSSL }, () => {
  it('a good pair, pages and CA bundle pass, relative paths against the file\'s folder', async (t) => {
    const pki = new TestPki(t);
    const ca = pki.ca('Test CA');
    const leaf = pki.leaf(['www.example.test'], { ca });
    const dir = tempDir('fulcrum-files-', t);
    copyFileSync(leaf.cert, dir.file('www.pem'));
    copyFileSync(leaf.key, dir.file('www.key'));
    copyFileSync(ca.cert, dir.file('ca.pem'));
    dir.write('502.html', '<p>down</p>');
    const file = dir.write(
      'fulcrum.yaml',
      yaml('        - { cert: www.pem, key: www.key }', '    error_pages: { 502: 502.html }', '    tls: { ca: ca.pem, cert: www.pem, key: www.key }'),
    );
    const r = await loadConfigFile(file);
    assert.deepEqual(r.issues.map(formatIssue), []);
  });

  it('each unusable file is named with its line and key path', async (t) => {
    const pki = new TestPki(t);
    const a = pki.leaf(['a.example.test']);
    const b = pki.leaf(['b.example.test']);
    const dir = tempDir('fulcrum-files-', t);
    dir.write('not-pem.txt', 'hello\n');
    const file = dir.write(
      'fulcrum.yaml',
      yaml(
        `        - { cert: ${a.cert}, key: ${b.key} }
        - { cert: missing.pem, key: ${a.key} }
        - { cert: not-pem.txt, key: ${a.key} }`,
        '    error_pages: { 503: nowhere.html }',
        `    tls: { ca: not-pem.txt, cert: ${a.cert}, key: ${a.key} }`,
      ),
    );
    const r = await loadConfigFile(file);
    assert.equal(r.config, undefined);
    const text = r.issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
    assert.equal(text.length, 5, text.join('\n'));
    assert.match(text[0]!, /^6 listeners\[0\]\.tls\.certificates\[0\]\.key: the key in .* does not belong to the certificate in /);
    assert.match(text[1]!, /^7 listeners\[0\]\.tls\.certificates\[1\]\.cert: cannot read the certificate file .*missing\.pem: no such file/);
    assert.match(text[2]!, /^8 listeners\[0\]\.tls\.certificates\[2\]\.cert: .*not-pem\.txt holds no PEM certificate/);
    assert.match(text[3]!, /^9 listeners\[0\]\.error_pages\["503"\]: cannot read .*nowhere\.html \(ENOENT\)/);
    assert.match(text[4]!, /^13 pools\.web\.tls\.ca: pool web: tls\.ca: .*not-pem\.txt holds no PEM certificate/);
  });

  it('a pool\'s missing client key is named at `key`', async (t) => {
    const pki = new TestPki(t);
    const a = pki.leaf(['a.example.test']);
    const dir = tempDir('fulcrum-files-', t);
    const file = dir.write('fulcrum.yaml', yaml(`        - { cert: ${a.cert}, key: ${a.key} }`, '', `    tls: { cert: ${a.cert}, key: gone.key }`));
    const r = await loadConfigFile(file);
    assert.deepEqual(
      r.issues.map((i) => `${i.path}: ${i.message.replace(dir.dir, 'DIR')}`),
      ['pools.web.tls.key: pool web: tls.key: cannot read DIR/gone.key: no such file'],
    );
  });

  it('the admin token file is read: missing or empty is refused at `admin.token_file`', async (t) => {
    const dir = tempDir('fulcrum-files-', t);
    dir.write('empty.token', '\n');
    const admin = (token: string) => `listeners:
  - { name: www, bind: 127.0.0.1:8080, routes: [{ pool: web }] }
pools:
  web: { servers: [{ address: "127.0.0.1:9001" }] }
admin: { listen: 127.0.0.1:9100, token_file: ${token} }
`;
    const empty = await loadConfigFile(dir.write('a.yaml', admin('empty.token')));
    assert.deepEqual(empty.issues.map((i) => `${i.line} ${i.path}: ${/is empty/.test(i.message)}`), ['5 admin.token_file: true']);
    const missing = await loadConfigFile(dir.write('b.yaml', admin('none.token')));
    assert.deepEqual(missing.issues.map((i) => `${i.path}: ${i.message.replace(dir.dir, 'DIR')}`), ['admin.token_file: admin: cannot read the token file DIR/none.token: no such file']);
    dir.write('good.token', 'abc123\n');
    assert.deepEqual((await loadConfigFile(dir.write('c.yaml', admin('good.token')))).issues.map(formatIssue), []);
  });
});

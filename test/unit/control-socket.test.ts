/** The control socket's protocol: one JSON line in, one answer out; malformed input gets a clear answer. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlServer, controlRequest, type ControlCommand } from '../../src/runtime/control.js';

describe('control socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-control-'));
  const file = join(dir, 'c.sock');
  const seen: ControlCommand[] = [];
  const server = new ControlServer(file, async (c) => {
    seen.push(c);
    return { ok: true, message: `did ${c}` };
  });
  before(() => server.start());
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends raw bytes and resolves with whatever comes back before the server closes. */
  const raw = (bytes: string) =>
    new Promise<string>((resolve, reject) => {
      const s = net.connect(file, () => s.write(bytes));
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });

  it('answers a command, with the socket readable by its owner only', async () => {
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(await controlRequest(file, 'status'), { ok: true, message: 'did status' });
    assert.deepEqual(seen, ['status']);
  });

  it('answers malformed or unknown requests clearly, running nothing', async () => {
    assert.deepEqual(JSON.parse(await raw('not json\n')), { ok: false, message: 'unknown command undefined: expected status, reload or stop' });
    assert.deepEqual(JSON.parse(await raw('{"command":"restart"}\n')), { ok: false, message: 'unknown command "restart": expected status, reload or stop' });
    assert.equal(await raw('x'.repeat(5000)), '', 'a line over 4 KiB without an end is cut');
    assert.deepEqual(seen, ['status']);
  });

  it('refuses a second server on a path a live one answers at', async () => {
    await assert.rejects(new ControlServer(file, async () => ({ ok: true, message: '' })).start(), /belongs to another running instance/);
  });
});

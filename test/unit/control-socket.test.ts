/** The control socket's protocol: one JSON line in, one answer out; malformed input gets a clear answer. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlServer, controlRequest, type ControlRequest } from '../../src/runtime/control.js';

describe('control socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-control-'));
  const file = join(dir, 'c.sock');
  const seen: ControlRequest[] = [];
  const server = new ControlServer(file, async (r) => {
    seen.push(r);
    return { ok: true, message: `did ${r.command}` };
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
    assert.deepEqual(seen, [{ command: 'status' }]);
  });

  it('passes a runtime API operation through whole', async () => {
    const operation = { op: 'state', pool: 'web', server: 's1', state: 'drain' } as const;
    assert.deepEqual(await controlRequest(file, { command: 'server', operation }), { ok: true, message: 'did server' });
    assert.deepEqual(seen.pop(), { command: 'server', operation });
  });

  it('answers malformed or unknown requests clearly, running nothing', async () => {
    assert.deepEqual(JSON.parse(await raw('not json\n')), { ok: false, message: 'unknown command undefined: expected status, reload, stop or server' });
    assert.deepEqual(JSON.parse(await raw('{"command":"restart"}\n')), { ok: false, message: 'unknown command "restart": expected status, reload, stop or server' });
    assert.deepEqual(JSON.parse(await raw('{"command":"server"}\n')), { ok: false, message: 'unknown command "server": expected status, reload, stop or server' });
    assert.equal(await raw('x'.repeat(5000)), '', 'a line over 4 KiB without an end is cut');
    assert.deepEqual(seen, [{ command: 'status' }]);
  });

  it('refuses a second server on a path a live one answers at', async () => {
    await assert.rejects(new ControlServer(file, async () => ({ ok: true, message: '' })).start(), /belongs to another running instance/);
  });
});

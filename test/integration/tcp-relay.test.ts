import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import type { TcpConnection } from '../../src/proxy/tcp/connection.js';
import { nativeRelay, nativeRelayMissing } from '../../src/io/native-relay.js';
import { privateBuffersInUse } from '../../src/proxy/tcp/relay.js';
import { closedPort, blackholePort, LOOPBACK } from '../helpers/ports.js';
import { rawBackend, echoServer, nameServer } from '../helpers/backends.js';
import { waitFor, closed } from '../helpers/wait.js';
import { ended, rawConnect, readAll } from '../helpers/http-client.js';
import { forEachRelay, tcpProxy, tcpYaml, type RelayKind } from '../helpers/proxies.js';

/**
 * Every test below runs twice: on the native relay (native/relay.c, the default) and on
 * the JavaScript relay over Node's handles (relay.ts; FULCRUM_TCP_RELAY=js).
 */
/** Relay buffers holding bytes now, in the engine under test. */
function buffersInUse(relay: RelayKind): number {
  return relay === 'native' ? nativeRelay()!.buffersInUse() : privateBuffersInUse();
}

test('native listener slots are reused: 1,100 listen/stop cycles in one process', { skip: nativeRelay() === null ? `no native relay: ${nativeRelayMissing()}` : false }, async () => {
  const relay = nativeRelay()!;
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  try {
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const acceptor = { nativeAccepted: (id: number) => relay.close(id), acceptFailed: () => {}, internalError: () => {} };
    const seen = new Set<number>();
    for (let i = 0; i < 1100; i++) {
      const index = relay.listen(fd, acceptor);
      assert.ok(index >= 0, `listen ${i} failed: ${index}`);
      seen.add(index);
      relay.unlisten(index);
    }
    assert.ok(seen.size <= 2, `indexes used: ${[...seen].join(', ')}`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('on Linux the native relay is built and loads (npm ci runs node-gyp)', { skip: process.platform !== 'linux' ? 'the native relay is Linux-only' : false }, () => {
  assert.equal(nativeRelayMissing(), '');
  assert.ok(nativeRelay() !== null);
});

function only<T>(set: { readonly size: number } & Iterable<T>): T {
  assert.equal(set.size, 1, `expected one connection, found ${set.size}`);
  return [...set][0]!;
}

forEachRelay((relay) => {
  test('tcp listeners run on this relay', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }));
    assert.equal(p.frontend.relay, relay);
  });

  test('bytes go through both ways and are counted on the connection', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }));
    const c = await rawConnect(p.port, { t });
    c.sock.write('hello ');
    assert.equal((await c.reader.readBytes(6)).toString(), 'hello ');
    const conn: TcpConnection = only(p.frontend.connections);
    c.sock.write(Buffer.alloc(100_000, 1));
    await c.reader.readBytes(100_000);
    c.sock.end('bye');
    assert.equal(await readAll(c), 'bye');
    await closed(c.sock);
    assert.equal(conn.bytesIn, 6 + 100_000 + 3);
    assert.equal(conn.bytesOut, 6 + 100_000 + 3);
    assert.equal(conn.server?.name, 'S1');
    await waitFor(() => p.frontend.connections.size === 0, 2000, 'the connection to be forgotten');
    assert.equal(p.instance.pools.get('web')!.servers[0]!.active, 0);
  });

  test('round robin spreads connections over two servers', async (t) => {
    const s1 = await nameServer(t, 'S1');
    const s2 = await nameServer(t, 'S2');
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [s1.port, s2.port] } }));
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await readAll(await rawConnect(p.port, { t })));
    assert.deepEqual([...seen].sort(), ['S1', 'S1', 'S1', 'S2', 'S2', 'S2']);
    for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], `round robin alternates: ${seen.join(' ')}`);
  });

  test('half-close, client first: the server sees EOF and can still answer', async (t) => {
    let serverSawEnd = false;
    const backend = await rawBackend((sock, reader) => {
      void (async () => {
        const got = await reader.readToEnd();
        serverSawEnd = true;
        // the client's write side is closed; ours is still open
        sock.write(`got ${got.toString()}; `);
        await new Promise((r) => setTimeout(r, 50));
        sock.end('and more after your FIN');
      })().catch(() => sock.destroy());
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const c = await rawConnect(p.port, { t });
    c.sock.end('ping');
    assert.equal(await readAll(c), 'got ping; and more after your FIN');
    assert.ok(serverSawEnd);
    await closed(c.sock);
  });

  test('half-close, server first: the client gets EOF and can still send', async (t) => {
    let received = '';
    let finished!: () => void;
    const done = new Promise<void>((r) => (finished = r));
    const backend = await rawBackend((sock, reader) => {
      sock.end('greeting, and goodbye from my side');
      reader.readToEnd().then((b) => {
        received = b.toString();
        finished();
      }, finished);
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const c = await rawConnect(p.port, { t });
    assert.equal((await c.reader.readToEnd()).toString(), 'greeting, and goodbye from my side');
    assert.equal(c.sock.writable, true);
    c.sock.write('still ');
    c.sock.end('talking');
    await done;
    assert.equal(received, 'still talking');
    await closed(c.sock);
  });

  const MiB = 1024 * 1024;

  /** Writes `total` bytes of a deterministic pattern with backpressure; returns their sha256. */
  function pump(sock: net.Socket, total: number, progress: { written: number; blocked: boolean }): Promise<string> {
    const hash = createHash('sha256');
    return new Promise((resolve, reject) => {
      let i = 0;
      const step = () => {
        while (progress.written < total) {
          const n = Math.min(64 * 1024, total - progress.written);
          const chunk = Buffer.alloc(n, i++ & 0xff);
          hash.update(chunk);
          progress.written += n;
          if (!sock.write(chunk)) {
            progress.blocked = true;
            sock.once('drain', () => {
              progress.blocked = false;
              step();
            });
            return;
          }
        }
        sock.end();
        resolve(hash.digest('hex'));
      };
      sock.once('error', reject);
      step();
    });
  }

  /** Reads everything into a sha256, returning it with the byte count. */
  function drain(sock: net.Socket): Promise<{ bytes: number; sha: string }> {
    const hash = createHash('sha256');
    let bytes = 0;
    return new Promise((resolve) => {
      sock.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      sock.once('end', () => resolve({ bytes, sha: hash.digest('hex') }));
    });
  }

  test('backpressure, server to slow client: the proxy holds at most a read per direction', async (t) => {
    const total = 48 * MiB;
    const progress = { written: 0, blocked: false };
    let sent: Promise<string> = Promise.resolve('');
    const backend = await rawBackend((sock) => {
      sent = pump(sock, total, progress);
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const sock = net.connect({ port: p.port, host: LOOPBACK });
    t.after(() => sock.destroy());
    sock.pause(); // a client that does not read
    await waitFor(() => progress.blocked, 5000, 'the server to be blocked by backpressure');
    await new Promise((r) => setTimeout(r, 300));
    const conn = only(p.frontend.connections);
    // Kernel buffers (client receive, proxy send, proxy receive, server send) hold a few
    // MiB on loopback; the proxy itself at most one read per direction.
    assert.ok(conn.bytesOut < 24 * MiB, `relayed ${conn.bytesOut} bytes to a client that reads nothing`);
    assert.ok(progress.written < total, 'the server could not write everything');
    assert.equal(p.frontend.relay, relay);
    assert.ok(buffersInUse(relay) <= 2, `${buffersInUse(relay)} relay buffers in use`);
    const got = drain(sock);
    sock.resume();
    const r = await got;
    assert.equal(r.bytes, total);
    assert.equal(r.sha, await sent);
  });

  test('backpressure, client to slow server: the proxy stops reading the client', async (t) => {
    const total = 48 * MiB;
    let serverSock: net.Socket | undefined;
    const backend = await rawBackend((sock) => {
      sock.pause();
      serverSock = sock;
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const sock = net.connect({ port: p.port, host: LOOPBACK });
    sock.on('error', () => {});
    t.after(() => sock.destroy());
    const progress = { written: 0, blocked: false };
    const sent = pump(sock, total, progress);
    await waitFor(() => progress.blocked && serverSock !== undefined, 5000, 'the client to be blocked by backpressure');
    await new Promise((r) => setTimeout(r, 300));
    const conn = only(p.frontend.connections);
    assert.ok(conn.bytesIn < 24 * MiB, `read ${conn.bytesIn} bytes from the client while the server reads nothing`);
    const got = drain(serverSock!);
    serverSock!.resume();
    const r = await got;
    assert.equal(r.bytes, total);
    assert.equal(r.sha, await sent);
  });

  test('a refused connect is retried on another server; with retries 0 the client is closed', async (t) => {
    const dead = await closedPort();
    const live = await nameServer(t, 'live');
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [dead, live.port] } }));
    for (let i = 0; i < 4; i++) assert.equal(await readAll(await rawConnect(p.port, { t })), 'live');
    const pool = p.instance.pools.get('web')!;
    await waitFor(() => pool.servers.every((s) => s.active === 0), 2000, 'active counts back to 0');

    const p0 = await tcpProxy(t, tcpYaml({ web: { servers: [dead, live.port], lines: ['    retries: 0'] } }));
    const results: string[] = [];
    for (let i = 0; i < 4; i++) results.push(await readAll(await rawConnect(p0.port, { t })));
    assert.deepEqual([...results].sort(), ['', '', 'live', 'live']);
  });

  test('failed connects reach the outlier detector, which ejects the server', async (t) => {
    const dead = await closedPort();
    const live = await nameServer(t, 'live');
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [dead, live.port], lines: ['    outlier: { consecutive_errors: 2, base_ejection: 30s }'] } }));
    for (let i = 0; i < 4; i++) assert.equal(await readAll(await rawConnect(p.port, { t })), 'live');
    const pool = p.instance.pools.get('web')!;
    assert.deepEqual(pool.usable.map((s) => s.name), ['S2']);
  });

  test('a connect that hangs times out (timeouts.connect) and moves to the next server', async (t) => {
    const hole = await blackholePort(t);
    const live = await nameServer(t, 'live');
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [hole, live.port] } }, { listener: ['    timeouts: { connect: 200ms }'] }));
    const started = Date.now();
    const names: string[] = [];
    for (let i = 0; i < 2; i++) names.push(await readAll(await rawConnect(p.port, { t }), 5000));
    assert.deepEqual(names, ['live', 'live']);
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 3000, `two connections took ${took} ms with one connect timeout of 200 ms`);
  });

  test('idle timeout closes a silent pair; traffic keeps it open', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }, { listener: ['    tcp: { idle_timeout: 300ms }'] }));
    const busy = await rawConnect(p.port, { t });
    const silent = await rawConnect(p.port, { t });
    silent.sock.write('x');
    await silent.reader.readBytes(1);
    const t0 = Date.now();
    for (let i = 0; i < 8; i++) {
      busy.sock.write('.');
      await busy.reader.readBytes(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(silent.reader.ended, 'the silent connection was closed');
    assert.ok(!busy.reader.ended, 'the busy connection is still open');
    assert.ok(Date.now() - t0 >= 250);
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(busy.reader.ended, 'then the busy one idles out too');
  });

  test('maglev hashes the client address: the same source keeps its server', async (t) => {
    const names = ['A', 'B', 'C'];
    const servers = await Promise.all(names.map((n) => nameServer(t, n)));
    const p = await tcpProxy(t, tcpYaml({ web: { balance: 'maglev', servers: servers.map((s, i) => ({ port: s.port, name: names[i] })) } }));
    const first = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 2; i < 22; i++) {
        const src = `127.0.0.${i}`;
        const got = await readAll(await rawConnect(p.port, { t, localAddress: src }));
        if (round === 0) first.set(src, got);
        else assert.equal(got, first.get(src), `source ${src} moved`);
      }
    }
    assert.ok(new Set(first.values()).size >= 2, `20 sources all went to ${[...new Set(first.values())].join(',')}`);
  });

  test('max_connections closes connections past the limit', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }, { listener: ['    max_connections: 2'] }));
    const a = await rawConnect(p.port, { t });
    const b = await rawConnect(p.port, { t });
    a.sock.write('a');
    b.sock.write('b');
    await a.reader.readBytes(1);
    await b.reader.readBytes(1);
    const c = await rawConnect(p.port, { t });
    assert.equal(await readAll(c), '');
    a.sock.end();
    await readAll(a);
    await waitFor(() => p.frontend.connections.size === 1, 2000, 'a slot to free');
    const d = await rawConnect(p.port, { t });
    d.sock.write('d');
    assert.equal((await d.reader.readBytes(1)).toString(), 'd');
  });

  test('max_conn with a queue: a connection waits for a free server', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [{ port: echo.port, extra: 'max_conn: 1' }], lines: ['    queue: { size: 4, timeout: 3s }'] } }));
    const a = await rawConnect(p.port, { t });
    a.sock.write('a');
    await a.reader.readBytes(1);
    const b = await rawConnect(p.port, { t });
    b.sock.write('b');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(b.reader.buffered, 0, 'the second connection waits');
    a.sock.end();
    await readAll(a);
    assert.equal((await b.reader.readBytes(1)).toString(), 'b');
  });

  test('a server that crashes mid-transfer closes its client, and the next connection works', async (t) => {
    let n = 0;
    const backend = await rawBackend((sock) => {
      if (n++ === 0) {
        sock.write('partial');
        setTimeout(() => sock.resetAndDestroy(), 50);
      } else {
        sock.end('fine');
      }
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const a = await rawConnect(p.port, { t });
    assert.equal((await a.reader.readBytes(7)).toString(), 'partial');
    await closed(a.sock); // reset passed on: the socket closes with ECONNRESET, not a FIN
    assert.equal(await readAll(await rawConnect(p.port, { t })), 'fine');
    await waitFor(() => p.instance.pools.get('web')!.servers[0]!.active === 0, 2000, 'active back to 0');
  });

  test('a reset that arrives together with data still reaches the server as a reset, not a FIN', async (t) => {
    const events: string[] = [];
    let reader: { readBytes(n: number): Promise<Buffer> } | null = null;
    const backend = await rawBackend((sock, r) => {
      reader = r;
      // The backend's own socket meets the same libuv behaviour (the byte and the RST arrive
      // together: 'end'), so an empty write tells: a reset socket refuses it, a FIN'd one takes it.
      sock.on('end', () => sock.write(Buffer.alloc(0), (err) => events.push(err ? `write ${(err as NodeJS.ErrnoException).code}` : 'write ok')));
      sock.on('error', () => {});
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const c = await rawConnect(p.port, { t });
    c.sock.write('a');
    await waitFor(() => reader !== null, 2000, 'the server connection');
    assert.equal((await reader!.readBytes(1)).toString(), 'a', 'the relay runs');
    // in one tick: the proxy finds the byte and the RST waiting together, which libuv
    // reports as an end of stream
    c.sock.write('x');
    c.sock.resetAndDestroy();
    await waitFor(() => events.length > 0, 2000, 'the server side to end');
    assert.match(events[0]!, /^write (ECONNRESET|EPIPE)$/, `the server side was reset, not half-closed: ${events.join(', ')}`);
    await waitFor(() => p.frontend.connections.size === 0, 2000, 'the connection to be forgotten');
  });

  test('a client that resets closes the server side', async (t) => {
    let serverClosed = false;
    let received: Promise<Buffer> | null = null;
    const backend = await rawBackend((sock, reader) => {
      sock.on('close', () => (serverClosed = true));
      received = reader.readBytes(1);
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const c = await rawConnect(p.port, { t });
    c.sock.write('x');
    await waitFor(() => received !== null, 2000, 'the server connection');
    // Reset only once the byte went through. libuv reports a reset that arrives together
    // with unread data as an end of stream (a partial read with POLLHUP): the relay then
    // half-closes, as for a FIN, and this test would wait for a server that never ends.
    assert.equal((await received!).toString(), 'x');
    c.sock.resetAndDestroy();
    await waitFor(() => serverClosed, 2000, 'the server side to close');
    await waitFor(() => p.frontend.connections.size === 0, 2000, 'the connection to be forgotten');
  });

  test('no usable server: the client is closed', async (t) => {
    const dead = await closedPort();
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [dead], lines: ['    retries: 0'] } }));
    const c = await rawConnect(p.port, { t });
    assert.equal(await readAll(c), '');
  });

  test('stop: no new connections, open ones get the grace period', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }));
    const c = await rawConnect(p.port, { t });
    c.sock.write('x');
    await c.reader.readBytes(1);
    const stopping = p.instance.stop({ graceMs: 300 });
    await new Promise((r) => setTimeout(r, 100));
    c.sock.write('y');
    assert.equal((await c.reader.readBytes(1)).toString(), 'y', 'still relaying during the grace period');
    await assert.rejects(rawConnect(p.port));
    await stopping;
    await ended(c);
  });

  test('the instance runs tcp listeners beside http ones', async (t) => {
    const echo = await echoServer(t);
    const yaml = tcpYaml({ web: { servers: [echo.port] } }).replace('pools:', '  - name: web\n    bind: 127.0.0.1:0\n    routes: [{ pool: web }]\npools:');
    const p = await tcpProxy(t, yaml);
    assert.equal(p.ports.length, 2);
    const c = await rawConnect(p.ports[0]!, { t });
    c.sock.end('over tcp');
    assert.equal(await readAll(c), 'over tcp');
  });

  test('concurrent transfers with mixed write sizes keep every byte, in order, both ways', async (t) => {
    const echo = await echoServer(t);
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [echo.port] } }));
    let seed = 99;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n) + 1;
    const one = async (k: number) => {
      const sock = net.connect({ port: p.port, host: LOOPBACK });
      t.after(() => sock.destroy());
      const sentHash = createHash('sha256');
      const got = drain(sock);
      let total = 0;
      while (total < 6 * MiB) {
        // tiny writes, medium ones and bulk ones: shared-buffer copies and private buffers
        const n = [rnd(64), rnd(16 * 1024), rnd(512 * 1024)][rnd(3) - 1]!;
        const chunk = Buffer.alloc(n, (k * 31 + total) & 0xff);
        sentHash.update(chunk);
        total += n;
        if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
      }
      sock.end();
      const r = await got;
      assert.equal(r.bytes, total);
      assert.equal(r.sha, sentHash.digest('hex'));
    };
    await Promise.all([1, 2, 3, 4, 5, 6].map(one));
    await waitFor(() => p.frontend.connections.size === 0, 3000, 'every connection closed');
  });

  test('a seeded random mix of behaviours on both sides: every pair ends, nothing is left', { timeout: 60_000 }, async (t) => {
    const { readdirSync } = await import('node:fs');
    const fds = () => readdirSync('/proc/self/fd').length;
    let seed = 20261127;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    // The server: echo, then one of: end, reset after a while, end at once (half-close
    // before the client is done), or read without answering until the client ends.
    const backend = await rawBackend((sock) => {
      sock.on('error', () => {});
      const kind = rnd(4);
      if (kind === 0) sock.pipe(sock);
      else if (kind === 1) {
        sock.pipe(sock);
        setTimeout(() => sock.resetAndDestroy(), 5 + rnd(40));
      } else if (kind === 2) sock.end('bye');
      else {
        sock.on('data', () => {});
        sock.on('end', () => sock.end());
      }
    });
    t.after(() => backend.close());
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port] } }));
    const before = fds();
    // The clients: bulk or small writes, then FIN, RST, or a paused reader; all bounded.
    const one = (k: number) =>
      new Promise<void>((resolve) => {
        const sock = net.connect({ port: p.port, host: LOOPBACK, allowHalfOpen: rnd(2) === 0 });
        const done = () => {
          clearTimeout(timer);
          sock.destroy();
          resolve();
        };
        const timer = setTimeout(done, 3000);
        sock.on('error', done);
        sock.on('close', done);
        sock.on('data', () => {});
        sock.once('connect', () => {
          const kind = rnd(5);
          const size = [10, 4096, 200_000][rnd(3)]!;
          sock.write(Buffer.alloc(size, k & 0xff));
          if (kind === 0) sock.end();
          else if (kind === 1) setTimeout(() => sock.resetAndDestroy(), rnd(30));
          else if (kind === 2) {
            sock.pause();
            setTimeout(() => sock.resume(), 50 + rnd(100));
            setTimeout(() => sock.end(), 200);
          } else if (kind === 3) setTimeout(() => sock.end(Buffer.alloc(rnd(100_000) + 1)), rnd(50));
          else sock.destroy();
        });
      });
    for (let wave = 0; wave < 5; wave++) await Promise.all(Array.from({ length: 40 }, (_, i) => one(wave * 40 + i)));
    await waitFor(() => p.frontend.connections.size === 0, 5000, () => `every pair ended (${p.frontend.connections.size} left)`);
    await waitFor(() => fds() <= before + 2, 5000, () => `descriptors back to ${before} (now ${fds()})`);
    assert.equal(buffersInUse(relay), 0, 'no relay buffer held');
    assert.equal(p.instance.pools.get('web')!.servers[0]!.active, 0);
  });

  test('no descriptor is leaked: normal, half-closed, reset and refused connections', async (t) => {
    const { readdirSync } = await import('node:fs');
    const fds = () => readdirSync('/proc/self/fd').length;
    let n = 0;
    const backend = await rawBackend((sock) => {
      const k = n++ % 3;
      if (k === 0) sock.pipe(sock);
      else if (k === 1) sock.end('bye');
      else setTimeout(() => sock.resetAndDestroy(), 5);
    });
    t.after(() => backend.close());
    const dead = await closedPort();
    const p = await tcpProxy(t, tcpYaml({ web: { servers: [backend.port, dead] } }));
    const before = fds();
    for (let i = 0; i < 60; i++) {
      const c = await rawConnect(p.port);
      if (i % 4 === 0) c.sock.resetAndDestroy();
      else {
        c.sock.end('x');
        await c.reader.waitEnd(3000);
        c.sock.destroy();
      }
    }
    await waitFor(() => p.frontend.connections.size === 0, 3000, 'every connection closed');
    await waitFor(() => fds() <= before + 2, 3000, () => `descriptors back to ${before} (now ${fds()})`);
  });
});

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { CLIENT_HELLO_MAX_BYTES, parseClientHello, type ClientHelloResult } from '../../src/proxy/tcp/sni.js';

/** The bytes Node's TLS client sends first, captured by a plain TCP server. */
async function captureHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  const got = new Promise<Buffer>((resolve, reject) => {
    server.once('connection', (sock) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error('no complete ClientHello within 3 s')), 3000);
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (parseClientHello(all).done || all.length > 20_000) {
          clearTimeout(timer);
          sock.destroy();
          resolve(all);
        }
      });
      sock.on('error', () => {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
  client.on('error', () => {});
  try {
    return await got;
  } finally {
    client.destroy();
    server.close();
  }
}

function done(r: ClientHelloResult): { tls: boolean; serverName: string | null } {
  assert.equal(r.error, null, `unexpected error: ${r.error}`);
  assert.equal(r.done, true);
  if (r.error !== null || !r.done) throw new Error('unreachable');
  return { tls: r.tls, serverName: r.serverName };
}

// ---- a ClientHello builder, for precise malformations ------------------------------

interface HelloParts {
  version?: number[];
  sessionId?: number[];
  ciphers?: number[];
  compression?: number[];
  /** Raw extensions block content (without its length); null: no extensions at all. */
  extensions?: Buffer | null;
  /** Overrides of the computed lengths. */
  extLen?: number;
  handshakeType?: number;
  trailing?: number[];
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function ext(type: number, body: Buffer | number[]): Buffer {
  const b = Buffer.from(body);
  return Buffer.from([...u16(type), ...u16(b.length), ...b]);
}

function sniExt(...names: Array<string | { type: number; name: string }>): Buffer {
  const entries = names.map((n) => {
    const { type, name } = typeof n === 'string' ? { type: 0, name: n } : n;
    const bytes = Buffer.from(name, 'latin1');
    return Buffer.from([type, ...u16(bytes.length), ...bytes]);
  });
  const list = Buffer.concat(entries);
  return ext(0, [...u16(list.length), ...list]);
}

function helloBody(p: HelloParts): Buffer {
  const sid = p.sessionId ?? [];
  const ciphers = p.ciphers ?? [0x13, 0x01, 0x13, 0x02];
  const comp = p.compression ?? [0];
  const parts: Buffer[] = [Buffer.from(p.version ?? [3, 3]), Buffer.alloc(32, 0xab), Buffer.from([sid.length, ...sid]), Buffer.from([...u16(ciphers.length), ...ciphers]), Buffer.from([comp.length, ...comp])];
  if (p.extensions !== null) {
    const exts = p.extensions ?? sniExt('www.example.com');
    parts.push(Buffer.from(u16(p.extLen ?? exts.length)), exts);
  }
  if (p.trailing) parts.push(Buffer.from(p.trailing));
  return Buffer.concat(parts);
}

function handshake(p: HelloParts): Buffer {
  const body = helloBody(p);
  return Buffer.concat([Buffer.from([p.handshakeType ?? 1, 0, ...u16(body.length)]), body]);
}

/** The handshake message framed as TLS records of at most `size` bytes each. */
function records(hs: Buffer, size = 16384, type = 0x16, version = [3, 1]): Buffer {
  const out: Buffer[] = [];
  for (let o = 0; o < hs.length; o += size) {
    const frag = hs.subarray(o, Math.min(hs.length, o + size));
    out.push(Buffer.from([type, ...version, ...u16(frag.length)]), frag);
  }
  return Buffer.concat(out);
}

// ---- tests ---------------------------------------------------------------------------

test('reads the server name from ClientHellos of Node TLS clients (TLS 1.2 and 1.3)', async () => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const a = await captureHello({ servername: 'a.example.com', maxVersion });
    assert.deepEqual(done(parseClientHello(a)), { tls: true, serverName: 'a.example.com' }, maxVersion);
    const upper = await captureHello({ servername: 'WWW.Example.COM', maxVersion });
    assert.deepEqual(done(parseClientHello(upper)), { tls: true, serverName: 'www.example.com' }, maxVersion);
    const none = await captureHello({ servername: '', maxVersion });
    assert.deepEqual(done(parseClientHello(none)), { tls: true, serverName: null }, maxVersion);
  }
});

test('a ClientHello arriving in pieces: every prefix waits, the whole answers', async () => {
  const hello = await captureHello({ servername: 'shop.example.com' });
  for (let n = 0; n < hello.length; n++) {
    const r = parseClientHello(hello.subarray(0, n));
    assert.deepEqual({ done: r.done, error: r.error }, { done: false, error: null }, `prefix of ${n} bytes`);
  }
  assert.equal(done(parseClientHello(hello)).serverName, 'shop.example.com');
});

test('a ClientHello split over several TLS records (even 1-byte records) is reassembled', async () => {
  const hello = await captureHello({ servername: 'split.example.com' });
  const hs = hello.subarray(5); // one record in, the handshake message out
  for (const size of [1, 3, 50, 512]) {
    const framed = records(hs, size);
    assert.equal(done(parseClientHello(framed)).serverName, 'split.example.com', `records of ${size}`);
    // and every prefix of the multi-record form waits
    for (let n = 0; n < framed.length; n += size === 1 ? 7 : 1) {
      assert.equal(parseClientHello(framed.subarray(0, n)).error, null, `records of ${size}, prefix ${n}`);
    }
  }
});

test('not TLS: no server name, no error', () => {
  for (const text of ['GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n', 'SSH-2.0-OpenSSH_9.2\r\n', '\x00']) {
    assert.deepEqual(done(parseClientHello(Buffer.from(text, 'latin1'))), { tls: false, serverName: null });
  }
  assert.deepEqual(parseClientHello(Buffer.alloc(0)), { done: false, error: null });
});

test('built ClientHellos: without extensions, without SNI, with other extensions first', () => {
  assert.deepEqual(done(parseClientHello(records(handshake({ extensions: null })))), { tls: true, serverName: null });
  assert.deepEqual(done(parseClientHello(records(handshake({ extensions: ext(10, [0, 2, 0, 29]) })))), { tls: true, serverName: null });
  const exts = Buffer.concat([ext(10, [0, 2, 0, 29]), ext(16, [0, 3, 2, 0x68, 0x32]), sniExt('api.example.com'), ext(43, [2, 3, 4])]);
  assert.equal(done(parseClientHello(records(handshake({ extensions: exts })))).serverName, 'api.example.com');
  // an empty server_name extension (as servers send it) means no name
  assert.equal(done(parseClientHello(records(handshake({ extensions: ext(0, []) })))).serverName, null);
  // other name types are skipped
  assert.equal(done(parseClientHello(records(handshake({ extensions: sniExt({ type: 7, name: 'x' }, 'b.example.com') })))).serverName, 'b.example.com');
  // a session id, legacy 3.1 client version
  assert.equal(done(parseClientHello(records(handshake({ sessionId: new Array<number>(32).fill(1), version: [3, 1] })))).serverName, 'www.example.com');
});

test('malformed ClientHellos are refused with a reason', () => {
  const good = handshake({});
  const corpus: Array<[string, Buffer, RegExp]> = [
    ['handshake type 2 (ServerHello)', records(handshake({ handshakeType: 2 })), /message type 2/],
    ['record version 2.0', records(good, 16384, 0x16, [2, 0]), /record version 2/],
    ['empty record', Buffer.from([0x16, 3, 1, 0, 0]), /empty handshake record/],
    ['record over 2^14', Buffer.from([0x16, 3, 1, 0x40, 0x01]), /exceeds 16384/],
    ['ClientHello over the limit', records(Buffer.from([1, 0x00, 0x50, 0x00, ...Buffer.alloc(100)])), /exceeds the limit/],
    ['client version 2.0', records(handshake({ version: [2, 0] })), /version 2/],
    ['session id of 33 bytes', records(handshake({ sessionId: new Array<number>(33).fill(0) })), /session id of 33/],
    ['odd cipher suites length', records(handshake({ ciphers: [0x13, 0x01, 0x13] })), /cipher suites length 3/],
    ['no cipher suites', records(handshake({ ciphers: [] })), /cipher suites length 0/],
    ['no compression methods', records(handshake({ compression: [] })), /no compression methods/],
    ['extensions length too long', records(handshake({ extLen: sniExt('www.example.com').length + 1 })), /extensions length/],
    ['extensions length too short', records(handshake({ extLen: 3 })), /extensions length/],
    ['duplicate extension', records(handshake({ extensions: Buffer.concat([sniExt('a.example.com'), sniExt('b.example.com')]) })), /appears twice/],
    ['two host_names', records(handshake({ extensions: sniExt('a.example.com', 'b.example.com') })), /more than one host_name/],
    ['host name with a slash', records(handshake({ extensions: sniExt('a/b.example.com') })), /not a valid DNS name/],
    ['host name with a NUL', records(handshake({ extensions: sniExt('a.example.com\0.evil') })), /not a valid DNS name/],
    ['host name with a trailing dot', records(handshake({ extensions: sniExt('a.example.com.') })), /not a valid DNS name/],
    ['empty label', records(handshake({ extensions: sniExt('a..example.com') })), /not a valid DNS name/],
    ['empty host name', records(handshake({ extensions: sniExt('') })), /not a valid DNS name/],
    ['label of 64 bytes', records(handshake({ extensions: sniExt(`${'a'.repeat(64)}.example.com`) })), /not a valid DNS name/],
    ['server_name list length wrong', records(handshake({ extensions: ext(0, [0, 9, 0, 0, 1, 0x61]) })), /list length/],
    ['server_name entry overruns', records(handshake({ extensions: ext(0, [0, 4, 0, 0, 9, 0x61]) })), /overruns/],
    ['extension overruns the hello', records(handshake({ extensions: Buffer.from([0, 0, 0, 200, 1, 2]) })), /overruns/],
    ['bytes after the ClientHello body', records(handshake({ trailing: [1, 2, 3] })), /extensions length/],
    ['bytes after the ClientHello in its record', Buffer.concat([records(Buffer.concat([good, Buffer.from([0x14, 0, 0, 0])]))]), /past the ClientHello/],
    ['alert record in the middle', Buffer.concat([records(good.subarray(0, 10)), Buffer.from([0x15, 3, 3, 0, 2, 2, 40])]), /record of type 21/],
  ];
  for (const [what, bytes, reason] of corpus) {
    const r = parseClientHello(bytes);
    assert.equal(r.done, false, what);
    assert.match(r.error ?? '(no error)', reason, what);
  }
});

test('the buffering bound: a hello that never completes within 16 KiB is an error', () => {
  // A record header announcing more than fits, and records that never finish the hello.
  const hs = Buffer.from([1, 0x00, 0x3f, 0xf0]); // ClientHello of 16368 bytes: within the limit
  const many = records(Buffer.concat([hs, Buffer.alloc(CLIENT_HELLO_MAX_BYTES)]), 1000);
  const r = parseClientHello(many.subarray(0, CLIENT_HELLO_MAX_BYTES + 100));
  assert.match(r.error ?? '', /within 16384 bytes/);
});

test('mutated ClientHellos never throw', async () => {
  const hello = await captureHello({ servername: 'fuzz.example.com' });
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xffff;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(hello);
    for (let k = 0; k < 1 + (rnd() % 4); k++) b[rnd() % b.length] = rnd() & 0xff;
    const r = parseClientHello(b.subarray(0, rnd() % 3 === 0 ? rnd() % b.length : b.length));
    if (r.done) assert.ok(r.serverName === null || /^[a-z0-9_.-]+$/.test(r.serverName));
  }
});

/**
 * Our HTTP/2 server connection (src/proxy/http2/server-connection.ts) against a raw-frame
 * client on loopback: preface and SETTINGS, requests, trailers both ways, flow control
 * both ways, malformed requests as stream errors, floods and protocol errors as GOAWAY
 * and a closed socket, and GOAWAY draining the streams in flight.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import type { OutgoingHttpHeaders } from 'node:http2';
import { ServerConnection, type ConnectionOwner, type ServerSettings } from '../../src/proxy/http2/server-connection.js';
import type { ServerStream } from '../../src/proxy/http2/server-stream.js';
import type { StreamEvents } from '../../src/proxy/http2/h2-stream.js';
import { HpackDecoder } from '../../src/proxy/http2/wire/hpack.js';
import { ERR, FLAG, FRAME, PREFACE, RawH2, frame, get, headerBlock, headers, setting, type Frame } from '../helpers/h2-frames.js';

const SETTINGS: ServerSettings = { maxConcurrentStreams: 4, streamWindow: 65_536, connectionWindow: 1 << 20, maxHeaderListSize: 4096, maxHeaderFields: 40 };

/** A stream's handler: records what it hears; answers as the test says. */
class Handler implements StreamEvents {
  events: string[] = [];
  body: Buffer[] = [];
  trailers = '';
  closed = false;
  drains = 0;
  errors: unknown[] = [];
  onTrailers: (() => void) | null = null;
  constructor(readonly stream: ServerStream) {
    stream.own(this);
  }
  onClientData(chunk: Buffer): void {
    this.body.push(chunk);
  }
  onClientEnd(): void {
    this.events.push('end');
  }
  onClientDrain(): void {
    this.drains++;
  }
  onClientClose(): void {
    this.closed = true;
  }
  onInternalError(err: unknown): void {
    this.errors.push(err);
  }
  requestTrailers(lines: string): void {
    this.trailers = lines;
  }
  wantTrailers(): void {
    this.onTrailers?.();
  }
}

class Owner implements ConnectionOwner {
  streams: Array<{ stream: ServerStream; raw: string[]; ended: boolean; h: Handler }> = [];
  conn: ServerConnection | null = null;
  errors: number[] = [];
  peerGoAway = 0;
  closed = false;
  /** Answers each new stream (else left open). */
  answer: ((s: ServerStream, raw: string[]) => void) | null = null;
  onStream(stream: ServerStream, raw: string[], ended: boolean): void {
    const h = new Handler(stream);
    this.streams.push({ stream, raw, ended, h });
    this.answer?.(stream, raw);
  }
  onReadDone(): void {}
  onPeerGoAway(): void {
    this.peerGoAway++;
  }
  onPeerEnd(): void {
    this.conn?.finish();
  }
  onConnectionError(code: number): void {
    this.errors.push(code);
  }
  onClose(): void {
    this.closed = true;
  }
}

async function until<T>(what: string, f: () => T | undefined | null | false): Promise<T> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} within 3000 ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A loopback server running our connection with `settings`; the owner of its one connection. */
async function server(t: TestContext, settings = SETTINGS): Promise<{ port: number; owner: Owner }> {
  const owner = new Owner();
  const socks = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => {});
    const conn = new ServerConnection(sock, settings, owner);
    owner.conn = conn;
    conn.start(null);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.close();
    for (const s of socks) s.destroy();
  });
  return { port: (srv.address() as net.AddressInfo).port, owner };
}

async function open(t: TestContext, settings = SETTINGS): Promise<{ raw: RawH2; owner: Owner }> {
  const { port, owner } = await server(t, settings);
  const raw = await RawH2.open(t, port, true);
  return { raw, owner };
}

function fieldsOf(f: Frame, dec: HpackDecoder): string[] {
  const out: string[] = [];
  dec.decode(f.payload, 0, f.payload.length, (n, v) => out.push(`${n}: ${v}`), 1 << 20);
  return out;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const settingsFrame = (pairs: Array<[number, number]>) => {
  const b = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([k, v], i) => {
    b.writeUInt16BE(k, 6 * i);
    b.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, b);
};
const ok200: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'text/plain' };

async function closedWithGoaway(raw: RawH2, code: number, what: string): Promise<void> {
  assert.equal(await raw.goaway(), code, `${what}: GOAWAY code`);
  await until(`${what}: the socket closed`, () => raw.closed);
}

test('SETTINGS as configured, the connection window, PING answered with its payload', async (t) => {
  const { raw } = await open(t);
  const s = raw.frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0)!;
  assert.equal(setting(s, 3), 4);
  assert.equal(setting(s, 4), 65_536);
  assert.equal(setting(s, 6), 4096);
  assert.equal(setting(s, 2), 0);
  const wu = await raw.waitFor((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 0, 'connection WINDOW_UPDATE');
  assert.equal(wu.payload.readUInt32BE(0) + 65_535, 1 << 20);
  await raw.waitFor((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0, 'SETTINGS ACK');
  raw.send(frame(FRAME.PING, 0, 0, Buffer.from('12345678')));
  const pong = await raw.waitFor((f) => f.type === FRAME.PING, 'PING ACK');
  assert.equal(pong.flags, FLAG.ACK);
  assert.equal(pong.payload.toString(), '12345678');
});

test('a GET: its fields reach the owner; the response head, body and END_STREAM come back; PRIORITY is ignored', async (t) => {
  const { raw, owner } = await open(t);
  owner.answer = (s) => {
    s.respond(ok200, false, false);
    s.write(Buffer.from('hello '));
    s.end(Buffer.from('world'));
  };
  raw.send(frame(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])), headers(1, get('/a', [['accept', '*/*']])));
  const end = await raw.waitFor((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0, 'END_STREAM');
  assert.deepEqual(owner.streams[0]!.raw, [':method', 'GET', ':scheme', 'https', ':authority', 'www.example.com', ':path', '/a', 'accept', '*/*']);
  assert.equal(owner.streams[0]!.ended, true);
  const dec = new HpackDecoder();
  assert.deepEqual(fieldsOf(raw.frames.find((f) => f.type === FRAME.HEADERS)!, dec), [':status: 200', 'content-type: text/plain']);
  const body = Buffer.concat(raw.frames.filter((f) => f.type === FRAME.DATA && f.stream === 1).map((f) => f.payload)).toString();
  assert.equal(body, 'hello world');
  assert.equal(end.stream, 1);
  await until('the stream closed', () => owner.streams[0]!.h.closed);
  assert.equal(owner.conn!.streamCount, 0);
});

test('trailers both ways: request DATA (padded) then trailers; response trailers after the body', async (t) => {
  const { raw, owner } = await open(t);
  raw.send(
    headers(1, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/up'], ['te', 'trailers']], true),
    frame(FRAME.DATA, FLAG.PADDED, 1, Buffer.concat([Buffer.from([3]), Buffer.from('body'), Buffer.alloc(3)])),
    frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock([['x-sum', '42']])),
  );
  const st = await until('the stream', () => owner.streams[0]);
  await until('the end', () => st.h.events.includes('end'));
  assert.equal(Buffer.concat(st.h.body).toString(), 'body');
  assert.equal(st.h.trailers, 'x-sum: 42\r\n');
  st.h.onTrailers = () => st.stream.sendTrailers({ 'grpc-status': '0' });
  st.stream.respond(ok200, false, true);
  st.stream.end(Buffer.from('ok'));
  const t2 = await raw.waitFor((f) => f.type === FRAME.HEADERS && (f.flags & FLAG.END_STREAM) !== 0, 'response trailers');
  const dec = new HpackDecoder();
  const hs = raw.frames.filter((f) => f.type === FRAME.HEADERS);
  fieldsOf(hs[0]!, dec);
  assert.deepEqual(fieldsOf(t2, dec), ['grpc-status: 0']);
  assert.ok(raw.frames.some((f) => f.type === FRAME.DATA && f.payload.toString() === 'ok' && (f.flags & FLAG.END_STREAM) === 0));
});

test('malformed requests are stream errors (PROTOCOL_ERROR); the connection goes on', async (t) => {
  const { raw, owner } = await open(t);
  owner.answer = (s) => {
    s.respond(ok200, true, false);
  };
  const cases: Array<[string, Array<[string, string]>]> = [
    ['upper-case name', get('/x', [['X-Big', '1']])],
    ['connection-specific field', get('/x', [['connection', 'close']])],
    ['no :scheme', [[':method', 'GET'], [':authority', 'a'], [':path', '/']]],
    ['no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'a']]],
    ['pseudo after regular', [[':method', 'GET'], ['accept', '*'], [':scheme', 'http'], [':path', '/']]],
    ['two :path', [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':path', '/b']]],
    ['a response pseudo-field', [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':status', '200']]],
    ['TE gzip', get('/x', [['te', 'gzip']])],
    ['CR in a value', get('/x', [['x-a', 'a\rb']])],
  ];
  let id = 1;
  for (const [what, fields] of cases) {
    raw.send(headers(id, fields));
    assert.equal(await raw.reset(id), ERR.PROTOCOL_ERROR, what);
    id += 2;
  }
  // content-length and the DATA that came disagree
  raw.send(headers(id, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/'], ['content-length', '3']], true), frame(FRAME.DATA, FLAG.END_STREAM, id, Buffer.from('toolong')));
  assert.equal(await raw.reset(id), ERR.PROTOCOL_ERROR, 'content-length');
  id += 2;
  raw.send(headers(id, get('/fine')));
  await raw.waitFor((f) => f.type === FRAME.HEADERS && f.stream === id, 'an answer after the errors');
  assert.equal(owner.streams.length, 2, 'only the content-length one and the good one reached the owner');
  assert.equal(raw.closed, false);
});

test('a header list over the limit: RST_STREAM ENHANCE_YOUR_CALM, the dynamic table stays in step', async (t) => {
  const { raw, owner } = await open(t);
  owner.answer = (s) => s.respond(ok200, true, false);
  // literal with incremental indexing of a 5,000-byte value: over 4096 and yet in the table
  const big = Buffer.concat([Buffer.from([0x40, 5]), Buffer.from('x-big'), Buffer.from([0x7f, 0x89, 0x26]), Buffer.alloc(5000, 0x61)]);
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.concat([headerBlock(get('/')), big])));
  assert.equal(await raw.reset(1), ERR.ENHANCE_YOUR_CALM);
  raw.send(headers(3, get('/after')));
  await raw.waitFor((f) => f.type === FRAME.HEADERS && f.stream === 3, 'the next request answered');
});

test('preface errors: not the preface, or a first frame other than SETTINGS: GOAWAY PROTOCOL_ERROR and the socket closes', async (t) => {
  const { port } = await server(t);
  for (const bytes of [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), Buffer.concat([PREFACE, frame(FRAME.PING, 0, 0, Buffer.alloc(8))])]) {
    const sock = net.connect(port, '127.0.0.1');
    t.after(() => sock.destroy());
    const got: Buffer[] = [];
    sock.on('data', (c: Buffer) => got.push(c));
    sock.on('error', () => {});
    sock.write(bytes);
    await new Promise((r) => sock.once('close', r));
    const all = Buffer.concat(got);
    const at = all.indexOf(Buffer.from([0, 0, 8, FRAME.GOAWAY]));
    assert.ok(at >= 0, 'a GOAWAY came');
    assert.equal(all.readUInt32BE(at + 13), ERR.PROTOCOL_ERROR);
  }
});

test('send flow control: the client window paces DATA, one stalled stream does not stall another, SETTINGS raise windows', async (t) => {
  const { raw, owner } = await open(t);
  raw.send(settingsFrame([[4, 10]]));
  await until('the ACK', () => raw.frames.filter((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0).length >= 1);
  raw.send(headers(1, get('/slow')), headers(3, get('/other')));
  const [a, b] = await until('two streams', () => (owner.streams.length === 2 ? owner.streams : undefined));
  a!.stream.respond(ok200, false, false);
  assert.equal(a!.stream.write(Buffer.alloc(25, 0x61)), false, 'more than the window: wait');
  b!.stream.respond(ok200, false, false);
  b!.stream.end(Buffer.from('0123456789'));
  await raw.waitFor((f) => f.type === FRAME.DATA && f.stream === 3 && (f.flags & FLAG.END_STREAM) !== 0, 'stream 3 complete');
  const sent1 = () => raw.frames.filter((f) => f.type === FRAME.DATA && f.stream === 1).reduce((n, f) => n + f.payload.length, 0);
  assert.equal(sent1(), 10);
  raw.send(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(5)));
  await until('5 more bytes', () => sent1() === 15);
  raw.send(settingsFrame([[4, 100]]));
  await until('the drain', () => a!.h.drains === 1);
  assert.equal(sent1(), 25);
  a!.stream.end(null);
  await raw.waitFor((f) => f.type === FRAME.DATA && f.stream === 1 && (f.flags & FLAG.END_STREAM) !== 0, 'stream 1 complete');
  await until('stream 1 closed', () => a!.h.closed);
});

test('a stream may not depend on itself: HEADERS or PRIORITY naming its own stream reset it, other streams go on; on a stream not open, GOAWAY', async (t) => {
  const PRIORITY_FLAG = 0x20;
  const selfFirst = Buffer.from([0, 0, 0, 1, 16]); // exclusive bit clear, depends on stream 1, weight 17
  const { raw, owner } = await open(t);
  raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM | PRIORITY_FLAG, 1, Buffer.concat([selfFirst, headerBlock(get('/self'))])));
  assert.equal(await raw.reset(1), ERR.PROTOCOL_ERROR);
  raw.send(headers(3, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/p']], true));
  const st = await until('stream 3', () => owner.streams[0]);
  assert.deepEqual(st.raw.slice(0, 2), [':method', 'POST'], 'the self-dependent stream never reached the owner; the next one did');
  raw.send(frame(FRAME.PRIORITY, 0, 3, Buffer.from([0, 0, 0, 3, 16])));
  assert.equal(await raw.reset(3), ERR.PROTOCOL_ERROR);
  await until('stream 3 closed', () => st.h.closed);
  raw.send(frame(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 3, 16])));
  raw.send(headers(5, get('/after')));
  await until('stream 5', () => owner.streams[1]);
  raw.send(frame(FRAME.PRIORITY, 0, 7, Buffer.from([0, 0, 0, 7, 16])));
  assert.equal(await raw.goaway(), ERR.PROTOCOL_ERROR);
});

test('receive flow control: a paused stream gets no WINDOW_UPDATE until resumed; DATA beyond its window is FLOW_CONTROL_ERROR', async (t) => {
  const { raw, owner } = await open(t, { ...SETTINGS, streamWindow: 1000 });
  raw.send(headers(1, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/'], ['content-length', '1000']], true));
  const st = await until('the stream', () => owner.streams[0]);
  st.stream.pause();
  raw.send(frame(FRAME.DATA, 0, 1, Buffer.alloc(600)));
  await until('the data', () => st.h.body.length === 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(raw.frames.some((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 1), false, 'no window back while paused');
  st.stream.resume();
  const wu = await raw.waitFor((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 1, 'the window back');
  assert.equal(wu.payload.readUInt32BE(0), 600);
  raw.send(headers(3, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/']], true), frame(FRAME.DATA, 0, 3, Buffer.alloc(1001)));
  assert.equal(await raw.reset(3), ERR.FLOW_CONTROL_ERROR);
});

const FLOODS: Array<[string, (n: number) => Buffer[], number]> = [
  ['SETTINGS', (n) => Array.from({ length: n }, () => frame(FRAME.SETTINGS, 0, 0)), ERR.ENHANCE_YOUR_CALM],
  ['PING', (n) => Array.from({ length: n }, () => frame(FRAME.PING, 0, 0, Buffer.alloc(8))), ERR.ENHANCE_YOUR_CALM],
  ['PRIORITY', (n) => Array.from({ length: n }, () => frame(FRAME.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 1]))), ERR.ENHANCE_YOUR_CALM],
  ['WINDOW_UPDATE', (n) => Array.from({ length: n }, () => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(1))), ERR.ENHANCE_YOUR_CALM],
  ['empty DATA', (n) => [headers(1, get('/'), true), ...Array.from({ length: n }, () => frame(FRAME.DATA, 0, 1))], ERR.ENHANCE_YOUR_CALM],
  ['CONTINUATION', (n) => [frame(FRAME.HEADERS, 0, 1, headerBlock(get('/'))), ...Array.from({ length: n }, () => frame(FRAME.CONTINUATION, 0, 1, headerBlock([['x-a', 'b']])))], ERR.ENHANCE_YOUR_CALM],
  ['rapid reset', (n) => Array.from({ length: n }, (_, i) => [headers(1 + 2 * i, get('/')), frame(FRAME.RST_STREAM, 0, 1 + 2 * i, u32(ERR.CANCEL))]).flat(), ERR.INTERNAL_ERROR],
];

for (const [name, frames, code] of FLOODS) {
  test(`a ${name} flood: GOAWAY ${code} and the socket closes`, async (t) => {
    const { raw, owner } = await open(t);
    raw.send(...frames(2000));
    await closedWithGoaway(raw, code, name);
    assert.deepEqual(owner.errors, [code]);
    if (name === 'rapid reset') assert.ok(owner.streams.every((s) => s.stream.closed), 'every stream closed');
  });
}

test('too many streams: REFUSED_STREAM before our SETTINGS are acknowledged, a connection error after', async (t) => {
  const { port, owner } = await server(t, { ...SETTINGS, maxConcurrentStreams: 1 });
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  const got: Buffer[] = [];
  sock.on('data', (c: Buffer) => got.push(c));
  sock.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), headers(1, get('/')), headers(3, get('/'))]));
  await until('RST_STREAM on 3', () => Buffer.concat(got).includes(Buffer.from([0, 0, 4, FRAME.RST_STREAM, 0, 0, 0, 0, 3, 0, 0, 0, ERR.REFUSED_STREAM])));
  assert.equal(owner.streams.length, 1);
  const { raw } = await open(t, { ...SETTINGS, maxConcurrentStreams: 1 });
  raw.send(headers(1, get('/')), headers(3, get('/')));
  await closedWithGoaway(raw, ERR.PROTOCOL_ERROR, 'after the ACK');
});

test('connection errors close the socket after GOAWAY, nothing thrown: even ids, DATA on 0, frames too large, window overflow', async (t) => {
  const bad: Array<[string, Buffer[], number]> = [
    ['even stream', [headers(2, get('/'))], ERR.PROTOCOL_ERROR],
    ['DATA on 0', [frame(FRAME.DATA, 0, 0, Buffer.from('x'))], ERR.PROTOCOL_ERROR],
    ['a 20,000-byte frame', [frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.alloc(20_000))], ERR.FRAME_SIZE_ERROR],
    ['window overflow', [frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))], ERR.FLOW_CONTROL_ERROR],
    ['bad HPACK', [frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff]))], ERR.COMPRESSION_ERROR],
    ['PUSH_PROMISE', [frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.alloc(4))], ERR.PROTOCOL_ERROR],
    ['CONTINUATION alone', [frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1)], ERR.PROTOCOL_ERROR],
    ['a header block cut by PING', [frame(FRAME.HEADERS, 0, 1, headerBlock(get('/'))), frame(FRAME.PING, 0, 0, Buffer.alloc(8))], ERR.PROTOCOL_ERROR],
    ['WINDOW_UPDATE on an idle stream', [frame(FRAME.WINDOW_UPDATE, 0, 9, u32(1))], ERR.PROTOCOL_ERROR],
  ];
  for (const [what, frames, code] of bad) {
    const { raw } = await open(t);
    raw.send(...frames);
    await closedWithGoaway(raw, code, what);
  }
});

test('GOAWAY (NO_ERROR): the stream in flight finishes, a new one is not processed, then the connection closes', async (t) => {
  const { raw, owner } = await open(t);
  raw.send(headers(1, get('/held')));
  const st = await until('the stream', () => owner.streams[0]);
  owner.conn!.goAway(ERR.NO_ERROR);
  const g = await raw.waitFor((f) => f.type === FRAME.GOAWAY, 'GOAWAY');
  assert.equal(g.payload.readUInt32BE(0), 1, 'last stream id');
  assert.equal(g.payload.readUInt32BE(4), ERR.NO_ERROR);
  raw.send(headers(3, get('/late')));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(owner.streams.length, 1, 'stream 3 not processed');
  st.stream.respond(ok200, false, false);
  st.stream.end(Buffer.from('done'));
  await raw.waitFor((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0, 'the held response');
  owner.conn!.finish();
  await until('closed', () => raw.closed);
});

test('a handler that throws costs its stream only; random bytes after the preface never throw', async (t) => {
  const { raw, owner } = await open(t);
  owner.answer = (s) => {
    (s.handler as Handler).onClientData = () => {
      throw new Error('bug');
    };
  };
  raw.send(headers(1, [[':method', 'POST'], [':scheme', 'http'], [':authority', 'a'], [':path', '/']], true), frame(FRAME.DATA, 0, 1, Buffer.from('x')));
  await until('the error reported', () => owner.streams[0]?.h.errors.length === 1);
  assert.equal(raw.closed, false);
  for (let k = 0; k < 20; k++) {
    const { raw: r } = await open(t);
    const junk = Buffer.alloc(200);
    for (let i = 0; i < junk.length; i++) junk[i] = (Math.random() * 256) | 0;
    r.send(junk);
    r.sock.end();
    await until('closed', () => r.closed);
  }
});

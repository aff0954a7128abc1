/**
 * The upstream HTTP/2 client (src/proxy/http2/h2-client.ts) against a fake server on
 * loopback that speaks raw frames: settings, requests and responses, trailers, flow
 * control both ways, GOAWAY, and protocol errors that must close the connection cleanly.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { ClientSession, type SessionOwner, type StreamHandler } from '../../src/proxy/http2/h2-client.js';
import { HpackDecoder } from '../../src/proxy/http2/wire/hpack.js';
import { ERR, FLAG, FRAME, PREFACE, frame, headerBlock, type Frame } from '../helpers/h2-frames.js';

const WAIT_MS = 3000;

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The server side of one connection: frames received (after the preface), and a way to send raw frames. */
class FakeServer {
  readonly frames: Frame[] = [];
  sock: net.Socket | null = null;
  preface = false;
  closed = false;
  readonly hpack = new HpackDecoder();
  private buf = Buffer.alloc(0);

  constructor(readonly server: net.Server) {
    server.on('connection', (sock) => {
      this.sock = sock;
      sock.on('error', () => {});
      sock.on('close', () => (this.closed = true));
      sock.on('data', (c: Buffer) => {
        this.buf = Buffer.concat([this.buf, c]);
        if (!this.preface) {
          if (this.buf.length < PREFACE.length) return;
          assert.deepEqual(this.buf.subarray(0, PREFACE.length), PREFACE);
          this.preface = true;
          this.buf = this.buf.subarray(PREFACE.length);
        }
        while (this.buf.length >= 9) {
          const len = this.buf.readUIntBE(0, 3);
          if (this.buf.length < 9 + len) break;
          this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
          this.buf = this.buf.subarray(9 + len);
        }
      });
    });
  }

  send(...frames: Buffer[]): void {
    this.sock!.write(Buffer.concat(frames));
  }

  wait(what: string, match: (f: Frame) => boolean): Promise<Frame> {
    return until(what, () => this.frames.find(match));
  }

  /** The fields of a HEADERS frame the client sent. */
  fields(f: Frame): string[] {
    const out: string[] = [];
    this.hpack.decode(f.payload, 0, f.payload.length, (n, v) => out.push(`${n}: ${v}`), 1 << 20);
    return out;
  }
}

class Owner implements SessionOwner {
  connected = false;
  settings: Array<number | undefined> = [];
  goaway: Array<[number, number]> = [];
  pingAcks = 0;
  closed: Error | undefined | null = null;
  onSessionConnect(): void {
    this.connected = true;
  }
  onSessionSettings(max: number | undefined): void {
    this.settings.push(max);
  }
  onSessionGoaway(last: number, code: number): void {
    this.goaway.push([last, code]);
  }
  onSessionPingAck(): void {
    this.pingAcks++;
  }
  onSessionClose(err: Error | undefined): void {
    this.closed = err;
  }
}

class Handler implements StreamHandler {
  events: string[] = [];
  body: Buffer[] = [];
  closed: { code: number; err: Error | undefined } | null = null;
  drains = 0;
  onStreamHead(status: number, names: string[], values: string[], contentLength: number, endStream: boolean): void {
    const lines = names.map((name, k) => `${name}: ${values[k]}\r\n`).join('');
    this.events.push(`head ${status} ${JSON.stringify(lines)} ${contentLength} ${endStream}`);
  }
  onStreamData(chunk: Buffer): void {
    this.body.push(chunk);
  }
  onStreamTrailers(lines: string): void {
    this.events.push(`trailers ${JSON.stringify(lines)}`);
  }
  onStreamEnd(): void {
    this.events.push('end');
  }
  onStreamDrain(): void {
    this.drains++;
  }
  onStreamClose(code: number, err: Error | undefined): void {
    this.closed = { code, err };
  }
}

const GET = { names: [':method', ':scheme', ':authority', ':path'], values: ['GET', 'http', 'svc', '/'] };
const POST = { names: [':method', ':scheme', ':authority', ':path', 'content-type'], values: ['POST', 'http', 'svc', '/up', 'text/plain'] };

function settings(pairs: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function goaway(last: number, code: number): Buffer {
  return frame(FRAME.GOAWAY, 0, 0, Buffer.concat([u32(last), u32(code)]));
}

/** A connected client and its fake server, which has sent `serverSettings`. */
async function setup(t: TestContext, serverSettings: Array<[number, number]> = []): Promise<{ fake: FakeServer; owner: Owner; session: ClientSession }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const fake = new FakeServer(server);
  const owner = new Owner();
  const session = new ClientSession(owner, {
    host: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    tls: null,
    streamWindow: 1000,
    connectionWindow: 1_000_000,
    maxHeaderBytes: 64 * 1024,
  });
  t.after(() => session.destroy());
  await until('connect', () => owner.connected);
  await until('preface', () => fake.preface);
  fake.send(settings(serverSettings));
  await fake.wait('SETTINGS ACK', (f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0);
  return { fake, owner, session };
}

test('h2 client: preface, SETTINGS (no push, our stream window), the connection window, the server SETTINGS acknowledged', async (t) => {
  const { fake, owner } = await setup(t, [[3, 7]]);
  const s = fake.frames[0]!;
  assert.equal(s.type, FRAME.SETTINGS);
  assert.deepEqual([s.payload.readUInt16BE(0), s.payload.readUInt32BE(2), s.payload.readUInt16BE(6), s.payload.readUInt32BE(8)], [2, 0, 4, 1000]);
  const wu = await fake.wait('WINDOW_UPDATE', (f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 0);
  assert.equal(wu.payload.readUInt32BE(0), 1_000_000 - 65_535);
  assert.deepEqual(owner.settings, [7]);
});

test('h2 client: a request with a body, a response with interim head, data and trailers, over HEADERS + CONTINUATION', async (t) => {
  const { fake, session } = await setup(t);
  const h = new Handler();
  const stream = session.request(POST.names, POST.values, false, h);
  assert.equal(stream.id, 1);
  assert.equal(stream.write(Buffer.from('hello')), true);
  stream.end(['x-sum'], ['42']);
  const hf = await fake.wait('HEADERS', (f) => f.type === FRAME.HEADERS && f.stream === 1);
  assert.deepEqual(fake.fields(hf), [':method: POST', ':scheme: http', ':authority: svc', ':path: /up', 'content-type: text/plain']);
  assert.equal(hf.flags & FLAG.END_STREAM, 0);
  const data = await fake.wait('DATA', (f) => f.type === FRAME.DATA && f.stream === 1);
  assert.equal(data.payload.toString(), 'hello');
  const tr = await fake.wait('trailers', (f) => f.type === FRAME.HEADERS && f.stream === 1 && (f.flags & FLAG.END_STREAM) !== 0);
  assert.deepEqual(fake.fields(tr), ['x-sum: 42']);

  const block = headerBlock([[':status', '200'], ['content-type', 'text/plain'], ['x-a', '1']]);
  fake.send(
    frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock([[':status', '103'], ['link', '</a>']])),
    frame(FRAME.HEADERS, 0, 1, block.subarray(0, 5)),
    frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(5)),
    frame(FRAME.DATA, FLAG.PADDED, 1, Buffer.concat([Buffer.from([3]), Buffer.from('wor'), Buffer.alloc(3)])),
    frame(FRAME.DATA, 0, 1, Buffer.from('ld')),
    frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock([['grpc-status', '0']])),
  );
  await until('close', () => h.closed);
  assert.deepEqual(h.events, [
    `head 103 ${JSON.stringify('link: </a>\r\n')} -1 false`,
    `head 200 ${JSON.stringify('content-type: text/plain\r\nx-a: 1\r\n')} -1 false`,
    `trailers ${JSON.stringify('grpc-status: 0\r\n')}`,
    'end',
  ]);
  assert.equal(Buffer.concat(h.body).toString(), 'world');
  assert.deepEqual(h.closed, { code: -1, err: undefined });
  assert.equal(session.streamCount, 0);
});

test('h2 client: send flow control: bytes beyond the stream window wait for WINDOW_UPDATE, then drain', async (t) => {
  const { fake, session } = await setup(t, [[4, 10]]);
  const h = new Handler();
  const stream = session.request(POST.names, POST.values, false, h);
  assert.equal(stream.write(Buffer.from('0123456789abcdef')), false, 'six bytes wait');
  stream.end();
  await fake.wait('DATA', (f) => f.type === FRAME.DATA && f.stream === 1);
  await new Promise((r) => setTimeout(r, 30));
  const sent = () => Buffer.concat(fake.frames.filter((f) => f.type === FRAME.DATA && f.stream === 1).map((f) => f.payload)).toString();
  assert.equal(sent(), '0123456789');
  assert.equal(fake.frames.some((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0), false, 'END_STREAM waits behind the data');
  fake.send(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(100)));
  await fake.wait('END_STREAM', (f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0);
  assert.equal(sent(), '0123456789abcdef');
  assert.equal(h.drains, 1);
});

test('h2 client: a paused stream keeps its window closed; the connection window is returned, so other streams go on', async (t) => {
  const { fake, session } = await setup(t);
  const slow = new Handler();
  const fast = new Handler();
  const a = session.request(GET.names, GET.values, true, slow);
  const b = session.request(GET.names, GET.values, true, fast);
  a.pause();
  const head = headerBlock([[':status', '200']]);
  fake.send(frame(FRAME.HEADERS, FLAG.END_HEADERS, a.id, head), frame(FRAME.HEADERS, FLAG.END_HEADERS, b.id, head));
  // 1000-byte stream windows: fill both
  fake.send(frame(FRAME.DATA, 0, a.id, Buffer.alloc(1000, 0x61)), frame(FRAME.DATA, 0, b.id, Buffer.alloc(1000, 0x62)));
  const wub = await fake.wait('WINDOW_UPDATE for the reading stream', (f) => f.type === FRAME.WINDOW_UPDATE && f.stream === b.id);
  assert.equal(wub.payload.readUInt32BE(0), 1000);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(slow.body.length, 0, 'nothing handed to a paused stream');
  assert.equal(fake.frames.some((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === a.id), false, 'the paused stream gets no window');
  a.resume();
  assert.equal(Buffer.concat(slow.body).length, 1000);
  await fake.wait('WINDOW_UPDATE after resume', (f) => f.type === FRAME.WINDOW_UPDATE && f.stream === a.id);
  // DATA beyond a stream's window is a stream error, the connection goes on
  fake.send(frame(FRAME.DATA, 0, b.id, Buffer.alloc(1001)));
  assert.equal((await fake.wait('RST_STREAM', (f) => f.type === FRAME.RST_STREAM && f.stream === b.id)).payload.readUInt32BE(0), ERR.FLOW_CONTROL_ERROR);
  await until('close of b', () => fast.closed);
  assert.equal(session.destroyed, false);
});

test('h2 client: GOAWAY refuses the streams above its last id; the connection closes when the rest end', async (t) => {
  const { fake, owner, session } = await setup(t);
  const h1 = new Handler();
  const h3 = new Handler();
  session.request(GET.names, GET.values, true, h1);
  session.request(GET.names, GET.values, true, h3);
  fake.send(goaway(1, ERR.NO_ERROR));
  await until('refusal', () => h3.closed);
  assert.equal(h3.closed!.code, ERR.REFUSED_STREAM);
  assert.deepEqual(owner.goaway, [[1, 0]]);
  assert.throws(() => session.request(GET.names, GET.values, true, new Handler()), /no new streams/);
  fake.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock([[':status', '204']])));
  await until('stream 1 done', () => h1.closed);
  assert.deepEqual(h1.closed, { code: -1, err: undefined });
  await until('the connection closed', () => owner.closed !== null);
});

test('h2 client: PING answered, our PING acknowledged, RST_STREAM from the server fails the stream', async (t) => {
  const { fake, owner, session } = await setup(t);
  fake.send(frame(FRAME.PING, 0, 0, Buffer.from('12345678')));
  const ack = await fake.wait('PING ACK', (f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0);
  assert.equal(ack.payload.toString(), '12345678');
  session.ping();
  const ping = await fake.wait('PING', (f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0);
  fake.send(frame(FRAME.PING, FLAG.ACK, 0, ping.payload));
  await until('ping ack', () => owner.pingAcks === 1);
  const h = new Handler();
  session.request(GET.names, GET.values, true, h);
  fake.send(frame(FRAME.RST_STREAM, 0, 1, u32(ERR.INTERNAL_ERROR)));
  await until('reset', () => h.closed);
  assert.equal(h.closed!.code, ERR.INTERNAL_ERROR);
  assert.match(String(h.closed!.err), /INTERNAL_ERROR/);
});

test('h2 client: malformed responses are stream errors (RST_STREAM PROTOCOL_ERROR), the connection goes on', async (t) => {
  const { fake, session } = await setup(t);
  const cases: Array<[string, Buffer[]]> = [
    ['no :status', [headerBlock([['x', '1']])]],
    ['uppercase name', [headerBlock([[':status', '200'], ['X-Up', '1']])]],
    ['CR LF in a value', [headerBlock([[':status', '200'], ['x', 'a\r\nb: c']])]],
    ['connection-specific field', [headerBlock([[':status', '200'], ['connection', 'close']])]],
    ['request pseudo-field', [headerBlock([[':status', '200'], [':path', '/']])]],
    ['bad content-length', [headerBlock([[':status', '200'], ['content-length', '1x']])]],
  ];
  for (const [what, [block]] of cases) {
    const h = new Handler();
    const s = session.request(GET.names, GET.values, true, h);
    fake.send(frame(FRAME.HEADERS, FLAG.END_HEADERS, s.id, block!));
    await until(what, () => h.closed);
    assert.equal(h.closed!.code, ERR.PROTOCOL_ERROR, what);
    assert.match(String(h.closed!.err), /malformed/, what);
    assert.deepEqual(h.events, [], what);
  }
  // a body longer than its content-length
  const h = new Handler();
  const s = session.request(GET.names, GET.values, true, h);
  fake.send(frame(FRAME.HEADERS, FLAG.END_HEADERS, s.id, headerBlock([[':status', '200'], ['content-length', '2']])), frame(FRAME.DATA, 0, s.id, Buffer.from('abc')));
  await until('too long', () => h.closed);
  assert.equal(h.closed!.code, ERR.PROTOCOL_ERROR);
  assert.equal(session.destroyed, false);
  const ok = new Handler();
  const s2 = session.request(GET.names, GET.values, true, ok);
  fake.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, s2.id, headerBlock([[':status', '200']])));
  await until('a good one after', () => ok.closed);
  assert.deepEqual(ok.closed, { code: -1, err: undefined });
});

const CONNECTION_ERRORS: Array<[string, number, () => Buffer]> = [
  ['DATA on stream 0', ERR.PROTOCOL_ERROR, () => frame(FRAME.DATA, 0, 0, Buffer.from('x'))],
  ['HEADERS on a stream never opened', ERR.PROTOCOL_ERROR, () => frame(FRAME.HEADERS, FLAG.END_HEADERS, 99, headerBlock([[':status', '200']]))],
  ['a server push', ERR.PROTOCOL_ERROR, () => frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.concat([u32(2), headerBlock([[':path', '/']])]))],
  ['a bad header block', ERR.COMPRESSION_ERROR, () => frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Buffer.from([0x80]))],
  ['a frame over the frame size', ERR.FRAME_SIZE_ERROR, () => frame(FRAME.DATA, 0, 1, Buffer.alloc(16_385))],
  ['CONTINUATION out of the blue', ERR.PROTOCOL_ERROR, () => frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, Buffer.alloc(1))],
  ['a header block cut by DATA', ERR.PROTOCOL_ERROR, () => Buffer.concat([frame(FRAME.HEADERS, 0, 1, Buffer.from([0x88])), frame(FRAME.DATA, 0, 1, Buffer.alloc(1))])],
  ['a connection window overflow', ERR.FLOW_CONTROL_ERROR, () => frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))],
  ['PING of 7 bytes', ERR.FRAME_SIZE_ERROR, () => frame(FRAME.PING, 0, 0, Buffer.alloc(7))],
  ['a bad SETTINGS_MAX_FRAME_SIZE', ERR.PROTOCOL_ERROR, () => settings([[5, 100]])],
  ['padding longer than the frame', ERR.PROTOCOL_ERROR, () => frame(FRAME.DATA, FLAG.PADDED, 1, Buffer.from([5, 1]))],
];

for (const [what, code, bytes] of CONNECTION_ERRORS) {
  test(`h2 client: ${what} is a connection error: GOAWAY ${code}, the socket closed, the stream failed, nothing thrown`, async (t) => {
    const { fake, owner, session } = await setup(t);
    const h = new Handler();
    session.request(GET.names, GET.values, true, h);
    await fake.wait('HEADERS', (f) => f.type === FRAME.HEADERS);
    fake.send(bytes());
    const g = await fake.wait('GOAWAY', (f) => f.type === FRAME.GOAWAY);
    assert.equal(g.payload.readUInt32BE(4), code);
    await until('close', () => owner.closed !== null);
    assert.ok(owner.closed instanceof Error);
    assert.ok(h.closed !== null && h.closed.err instanceof Error);
    await until('socket closed', () => fake.closed);
  });
}

test('h2 client: a server whose first frame is not SETTINGS is a connection error', async (t) => {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.write(frame(FRAME.PING, 0, 0, Buffer.alloc(8)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const owner = new Owner();
  const session = new ClientSession(owner, { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, tls: null, streamWindow: 1000, connectionWindow: 65_535, maxHeaderBytes: 1024 });
  t.after(() => session.destroy());
  await until('close', () => owner.closed !== null);
  assert.match(String(owner.closed), /first frame was not SETTINGS/);
});

test('h2 client: frames split at every byte boundary parse the same', async (t) => {
  const { fake, session } = await setup(t);
  const h = new Handler();
  session.request(GET.names, GET.values, true, h);
  const bytes = Buffer.concat([
    frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock([[':status', '200'], ['content-length', '6']])),
    frame(FRAME.DATA, 0, 1, Buffer.from('abc')),
    frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('def')),
  ]);
  for (let i = 0; i < bytes.length; i++) {
    fake.sock!.write(bytes.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  await until('close', () => h.closed);
  assert.equal(Buffer.concat(h.body).toString(), 'abcdef');
  assert.deepEqual(h.events, [`head 200 ${JSON.stringify('content-length: 6\r\n')} 6 false`, 'end']);
});

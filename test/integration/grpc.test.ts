/**
 * gRPC through Fulcrum, end to end with @grpc/grpc-js servers and clients: an h2c listener
 * in front of an h2c pool. The four kinds of call, balancing per call over one client
 * connection, a server killed in the middle of a stream, deadlines (the client's, and
 * grpc-timeout honoured by the balancer itself), gRPC statuses for the balancer's own
 * errors, 16 MiB messages and 1,000 calls at once on one client connection.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { proxyFor } from '../helpers/proxies.js';
import { callError, collect, echoClient, echoServer, grpc, unary, type EchoServer, type Msg } from '../helpers/grpc.js';
import { waitFor, waitForAsync } from '../helpers/wait.js';

const Status = grpc.status;

/** An h2c listener (1,000 streams per client connection) routing to an h2c pool of `servers`. */
function grpcYaml(servers: Array<EchoServer | number>, opts: { pool?: string[]; listener?: string[] } = {}): string {
  return [
    'listeners:',
    '  - name: grpc',
    '    bind: 127.0.0.1:0',
    '    http2: { h2c: true, max_concurrent_streams: 1000 }',
    '    routes: [{ pool: grpc }]',
    ...(opts.listener ?? []).map((l) => `    ${l}`),
    'pools:',
    '  grpc:',
    '    protocol: h2c',
    '    servers:',
    ...servers.map((s, i) => `      - { name: ${typeof s === 'number' ? `S${i + 1}` : s.name}, address: "127.0.0.1:${typeof s === 'number' ? s : s.port}" }`),
    ...(opts.pool ?? []).map((l) => `    ${l}`),
    '',
  ].join('\n');
}

async function twoServers(t: TestContext): Promise<{ a: EchoServer; b: EchoServer; port: number }> {
  const a = await echoServer(t, 'A');
  const b = await echoServer(t, 'B');
  const proxy = await proxyFor(t, grpcYaml([a, b]));
  return { a, b, port: proxy.port };
}

test('gRPC: the four kinds of call, each spread over both servers from one client connection', async (t) => {
  const { a, b, port } = await twoServers(t);
  const client = echoClient(t, port);

  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, { text: `u${i}` })));
  assert.deepEqual(answers.map((m) => m.text), Array.from({ length: 20 }, (_, i) => `u${i}`));
  assert.equal(a.calls['Unary'], 10, 'round robin per call, not per connection');
  assert.equal(b.calls['Unary'], 10);

  const streamed = await collect(client.ServerStream({ text: 'n', count: 5, delayMs: 5 }));
  assert.equal(streamed.error, null);
  assert.deepEqual(streamed.messages.map((m) => m.text), ['n#0', 'n#1', 'n#2', 'n#3', 'n#4']);

  const summary = await new Promise<Msg>((resolve, reject) => {
    const call = client.ClientStream(new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : resolve(r!)));
    for (let i = 0; i < 10; i++) call.write({ data: Buffer.alloc(1000, i) });
    call.end();
  });
  assert.equal(summary.count, 10);
  assert.equal(summary.text, '10000');

  const bidi = client.Bidi();
  const echoes = collect(bidi);
  // one at a time: each answer comes back before the next message goes (frame by frame, nothing held)
  const got: string[] = [];
  for (const word of ['one', 'two', 'three']) {
    const next = new Promise<string>((resolve) => bidi.once('data', (m: Msg) => resolve(m.text!)));
    bidi.write({ text: word });
    got.push(await next);
  }
  bidi.end();
  assert.equal((await echoes).error, null);
  assert.deepEqual(got, ['echo one', 'echo two', 'echo three']);
  const calls = (s: EchoServer) => Object.values(s.calls).reduce((x, y) => x + y, 0);
  assert.equal(calls(a) + calls(b), 23);
});

test('gRPC: 16 MiB messages both ways', async (t) => {
  const { port } = await twoServers(t);
  const client = echoClient(t, port);
  const data = Buffer.alloc(16 << 20);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
  const r = await unary(client, { data });
  assert.equal(r.count, data.length);
  assert.ok(Buffer.compare(r.data!, data) === 0, 'the same 16 MiB came back');
});

test('gRPC: 1,000 calls at once on one client connection', async (t) => {
  const { a, b, port } = await twoServers(t);
  const client = echoClient(t, port);
  const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => unary(client, { text: `c${i}`, delayMs: 20 })));
  const failed = results.filter((r) => r.status === 'rejected');
  assert.equal(failed.length, 0, String((failed[0] as PromiseRejectedResult | undefined)?.reason));
  assert.equal((a.calls['Unary'] ?? 0) + (b.calls['Unary'] ?? 0), 1000);
  assert.equal(a.calls['Unary'], 500);
});

test('gRPC: a server killed in the middle of a stream: that call ends UNAVAILABLE, the others go on', async (t) => {
  const { a, b, port } = await twoServers(t);
  const client = echoClient(t, port);
  await unary(client, { text: 'warm' }); // A
  // the next call goes to B, the one after to A: a long stream on each
  const onB = collect(client.ServerStream({ text: 'b', count: 40, delayMs: 10 }));
  const onA = client.ServerStream({ text: 'a', count: 1000, delayMs: 10 });
  const resultA = collect(onA);
  await new Promise((resolve) => onA.once('data', resolve));
  a.kill();
  const cut = await resultA;
  assert.ok(cut.error !== null, 'the stream on the killed server failed');
  assert.equal(cut.error.code, Status.UNAVAILABLE, cut.error.message);
  assert.ok(cut.messages.length >= 1 && cut.messages.length < 1000);
  const whole = await onB;
  assert.equal(whole.error, null, 'the stream on the other server went on');
  assert.equal(whole.messages.length, 40);
  for (let i = 0; i < 4; i++) assert.equal((await unary(client, { text: `after${i}` })).server, 'B');
  assert.ok((b.calls['Unary'] ?? 0) >= 4);
});

test('gRPC: deadlines: the client\'s, grpc-timeout at the balancer, and the server\'s stream cancelled', async (t) => {
  const { a, b, port } = await twoServers(t);
  const client = echoClient(t, port);
  const err = await callError(unary(client, { text: 'slow', delayMs: 2000 }, { deadline: Date.now() + 200 }));
  assert.equal(err.code, Status.DEADLINE_EXCEEDED);

  // a client that does not keep the deadline itself: the balancer answers at grpc-timeout
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const started = Date.now();
  const reply = await new Promise<{ headers: http2.IncomingHttpHeaders; ended: boolean }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/fulcrum.test.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '300m' });
    stream.on('response', (headers, flags) => resolve({ headers, ended: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 }));
    stream.on('error', reject);
    // the Msg {text: "x", delay_ms: 5000}: field 1 "x", field 4 varint 5000
    const msg = Buffer.from([0x0a, 0x01, 0x78, 0x20, 0x88, 0x27]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    stream.end(frame);
  });
  const took = Date.now() - started;
  assert.equal(reply.headers[':status'], 200);
  assert.equal(reply.headers['grpc-status'], String(Status.DEADLINE_EXCEEDED));
  assert.match(String(reply.headers['grpc-message']), /grpc-timeout of 300 ms/);
  assert.ok(reply.ended, 'a trailers-only answer');
  assert.ok(took >= 280 && took < 2000, `answered after ${took} ms`);
  await waitFor(() => a.cancelled + b.cancelled >= 2, 2000, 'the servers to see both calls cancelled');
});

test('gRPC: the balancer\'s own errors are gRPC statuses: no server is UNAVAILABLE, no route UNIMPLEMENTED', async (t) => {
  const closed = await echoServer(t, 'gone');
  const port = closed.port;
  closed.kill();
  const proxy = await proxyFor(t, grpcYaml([port]));
  const client = echoClient(t, proxy.port);
  const err = await callError(unary(client, { text: 'x' }));
  assert.equal(err.code, Status.UNAVAILABLE, err.message);
  assert.doesNotMatch(err.details, /127\.0\.0\.1/, 'no server address in what the client sees');

  const routed = await proxyFor(t, grpcYaml([port], { listener: ['no_route: { status: 404 }'] }).replace('routes: [{ pool: grpc }]', 'routes: [{ path: /other/, pool: grpc }]'));
  const err404 = await callError(unary(echoClient(t, routed.port), { text: 'x' }));
  assert.equal(err404.code, Status.UNIMPLEMENTED, err404.message);
});

test('gRPC: health checks with grpc.health.v1.Health/Check take a NOT_SERVING server out and bring it back', async (t) => {
  const a = await echoServer(t, 'A');
  const b = await echoServer(t, 'B');
  const proxy = await proxyFor(t, grpcYaml([a, b], { pool: ['health: { type: grpc, interval: 100ms, rise: 1, fall: 1 }'] }));
  const client = echoClient(t, proxy.port);
  await waitFor(() => a.checks > 0 && b.checks > 0, 3000, 'both servers to be checked');
  a.serving = 2;
  const onlyB = async () => {
    const servers = await Promise.all(Array.from({ length: 4 }, () => unary(client, { text: 'h' }).then((m) => m.server)));
    return servers.every((s) => s === 'B');
  };
  await waitForAsync(onlyB, 3000, 'A to be taken out (NOT_SERVING)');
  a.serving = 1;
  await waitForAsync(async () => !(await onlyB()), 3000, 'A to come back (SERVING)');
});

test('gRPC: examples/grpc.yaml works as written, on loopback addresses', async (t) => {
  const a = await echoServer(t, 'G1');
  const b = await echoServer(t, 'G2');
  const file = fileURLToPath(new URL('../../../examples/grpc.yaml', import.meta.url));
  const yaml = readFileSync(file, 'utf8')
    .replaceAll('0.0.0.0:50051', '127.0.0.1:0')
    .replaceAll('192.0.2.21:50051', `127.0.0.1:${a.port}`)
    .replaceAll('192.0.2.22:50051', `127.0.0.1:${b.port}`);
  const proxy = await proxyFor(t, yaml);
  const client = echoClient(t, proxy.port);
  await waitFor(() => a.checks > 0 && b.checks > 0, 5000, 'the gRPC health checks');
  const servers = new Set<string>();
  for (let i = 0; i < 6; i++) servers.add((await unary(client, { text: 'x' })).server!);
  assert.deepEqual([...servers].sort(), ['G1', 'G2']);
});

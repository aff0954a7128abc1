/**
 * gRPC for the tests, with @grpc/grpc-js (servers and clients nobody here wrote): the Echo
 * service of test/fixtures/grpc/echo.proto served on 127.0.0.1:0 and named per server, a
 * client for an address, and promise forms of the calls. Servers and clients are closed
 * after the test.
 */
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The message of every Echo call. */
export interface Msg {
  text?: string;
  data?: Buffer;
  count?: number;
  delayMs?: number;
  server?: string;
}

/** The generated client, typed by hand for the four calls. */
export interface EchoClient extends grpc.Client {
  Unary(m: Msg, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientUnaryCall;
  ServerStream(m: Msg, md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  ClientStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: Msg) => void): grpc.ClientWritableStream<Msg>;
  Bidi(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Msg, Msg>;
}

const PROTO = fileURLToPath(new URL('../../../test/fixtures/grpc/echo.proto', import.meta.url));
const HEALTH_PROTO = fileURLToPath(new URL('../../../test/fixtures/grpc/health.proto', import.meta.url));
/** Messages up to 64 MiB both ways (the large-message test sends 16 MiB). */
export const BIG = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 };

let loaded: grpc.GrpcObject | null = null;
function load(): grpc.GrpcObject {
  return (loaded ??= grpc.loadPackageDefinition(protoLoader.loadSync([PROTO, HEALTH_PROTO], { keepCase: false, longs: Number, defaults: true })));
}
function echoService(): grpc.ServiceClientConstructor {
  return ((load()['fulcrum'] as grpc.GrpcObject)['test'] as grpc.GrpcObject)['Echo'] as grpc.ServiceClientConstructor;
}
function healthService(): grpc.ServiceClientConstructor {
  return (((load()['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['Health'] as grpc.ServiceClientConstructor;
}

/** A running Echo server. */
export interface EchoServer {
  name: string;
  port: number;
  server: grpc.Server;
  /** Calls that reached it, by method name. */
  calls: Record<string, number>;
  /** Calls it saw cancelled (the client or the balancer gave up). */
  cancelled: number;
  /** What its grpc.health.v1.Health/Check answers: 1 SERVING, 2 NOT_SERVING. */
  serving: number;
  /** Health checks answered. */
  checks: number;
  /** Stops at once: calls in progress fail. */
  kill(): void;
}

/** An Echo server named `name` on 127.0.0.1:0 (h2c), stopped after the test. */
export async function echoServer(t: TestContext, name: string): Promise<EchoServer> {
  const server = new grpc.Server(BIG);
  const s: EchoServer = { name, port: 0, server, calls: {}, cancelled: 0, serving: 1, checks: 0, kill: () => server.forceShutdown() };
  server.addService(healthService().service, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<{ status: number }>) => {
      s.checks++;
      cb(null, { status: s.serving });
    },
  });
  const count = (method: string, call: { on(event: 'cancelled', f: () => void): unknown }) => {
    s.calls[method] = (s.calls[method] ?? 0) + 1;
    call.on('cancelled', () => s.cancelled++);
  };
  server.addService(echoService().service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      count('Unary', call);
      const m = call.request;
      const answer = () => cb(null, { text: m.text, data: m.data, count: m.data?.length ?? 0, server: name });
      if ((m.delayMs ?? 0) > 0) setTimeout(answer, m.delayMs);
      else answer();
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      count('ServerStream', call);
      const m = call.request;
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i === (m.count ?? 0)) {
          call.end();
          return;
        }
        call.write({ text: `${m.text}#${i++}`, server: name });
        setTimeout(next, m.delayMs ?? 0);
      };
      next();
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      count('ClientStream', call);
      let n = 0;
      let bytes = 0;
      call.on('data', (m: Msg) => {
        n++;
        bytes += m.data?.length ?? 0;
      });
      call.on('end', () => cb(null, { count: n, text: String(bytes), server: name }));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      count('Bidi', call);
      call.on('data', (m: Msg) => call.write({ text: `echo ${m.text}`, server: name }));
      call.on('end', () => call.end());
    },
  });
  s.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  t.after(() => server.forceShutdown());
  return s;
}

/** A client of the Echo service at 127.0.0.1:`port` (plain HTTP/2), closed after the test. */
export function echoClient(t: TestContext, port: number): EchoClient {
  const Echo = echoService();
  const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), BIG) as unknown as EchoClient;
  t.after(() => client.close());
  return client;
}

/** A unary call, as a promise (rejecting with the ServiceError). */
export function unary(c: EchoClient, m: Msg, opts: grpc.CallOptions = {}): Promise<Msg> {
  return new Promise((resolve, reject) => c.Unary(m, new grpc.Metadata(), opts, (err, r) => (err ? reject(err) : resolve(r!))));
}

/** The error a call failed with (failing the test when it succeeds). */
export async function callError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded where it should have failed');
}

/** Every message of a server-streaming call and how it ended. */
export function collect<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<{ messages: T[]; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages, error: null }));
  });
}

export { grpc };

/**
 * A gRPC server for the grpc benchmark: the Echo service of test/fixtures/grpc/echo.proto
 * (@grpc/grpc-js, plain HTTP/2), whose Unary call answers at once with the message it got.
 *
 *   node dist/bench/peers/grpc-echo-peer.js PORT
 *
 * Prints "ready" on stdout once it listens. Exits on SIGTERM/SIGINT.
 */
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { repoRoot } from '../lib/paths.js';

const port = Number(process.argv[2]);
const def = grpc.loadPackageDefinition(protoLoader.loadSync(resolve(repoRoot, 'test', 'fixtures', 'grpc', 'echo.proto')));
const Echo = ((def['fulcrum'] as grpc.GrpcObject)['test'] as grpc.GrpcObject)['Echo'] as grpc.ServiceClientConstructor;
const server = new grpc.Server();
server.addService(Echo.service, {
  Unary: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, call.request),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));

/** The line bench/peers/wrk-tls-sessions.c prints when wrk exits, as bench/https.ts reads it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrkSessions } from '../../bench/lib/tls-floor.js';

test('parseWrkSessions reads the preload library\'s counts out of wrk\'s stderr', () => {
  const stderr = 'some wrk noise\nwrk-tls-sessions: 13208 handshakes, 13158 resumed, 13208 TLSv1.3, 13208 X25519, 4980000 cpu-us, suite TLS_AES_256_GCM_SHA384, 0 other suites\n';
  assert.deepEqual(parseWrkSessions(stderr), { handshakes: 13208, resumed: 13158, tls13: 13208, x25519: 13208, cpuUs: 4980000, suite: 'TLS_AES_256_GCM_SHA384', otherSuites: 0 });
  assert.equal(parseWrkSessions('unable to connect to 127.0.0.1:1 Connection refused'), undefined);
});

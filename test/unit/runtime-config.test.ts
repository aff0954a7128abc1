/** The runtime, logging and access_log configuration keys, and `--workers`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWorkersFlag } from '../../src/cli/workers-flag.js';
import { formatIssue, loadConfigText } from '../../src/config/load.js';

const FILE = 'lb.yaml';
const base = (extra: string, listenerExtra = '', mode = 'http') => `listeners:
  - name: www
    bind: 127.0.0.1:8080
    mode: ${mode}
    routes: [{pool: web}]
${listenerExtra}
pools:
  web:
    servers: [{address: 127.0.0.1:9001}]
${extra}`;

function problems(text: string): string[] {
  const { config, issues } = loadConfigText(text, FILE);
  assert.equal(config, undefined, 'the configuration should be refused');
  return issues.map(formatIssue);
}

describe('runtime section', () => {
  it('has defaults a newcomer never touches', () => {
    const { config } = loadConfigText(base(''), FILE);
    assert.deepEqual(config!.runtime, { workers: 'auto', drainMs: 300_000, shutdownMs: 10_000, controlSocket: null, user: null });
    assert.deepEqual(config!.logging, { level: 'info', format: 'auto' });
    assert.equal(config!.listeners[0]!.accessLog, null);
  });

  it('reads workers, timeouts and the control socket', () => {
    const { config, issues } = loadConfigText(base('runtime:\n  workers: 3\n  drain_timeout: 30s\n  shutdown_timeout: 2s\n  control_socket: /run/lb.sock\nlogging: {level: debug, format: json}\n'), FILE);
    assert.deepEqual(issues, []);
    assert.deepEqual(config!.runtime, { workers: 3, drainMs: 30_000, shutdownMs: 2_000, controlSocket: '/run/lb.sock', user: null });
    assert.deepEqual(config!.logging, { level: 'debug', format: 'json' });
  });

  it('reads runtime.user and group by name (from /etc/passwd and /etc/group) or number', () => {
    const byName = loadConfigText(base('runtime: {user: nobody, group: nogroup}\n'), FILE).config!;
    assert.deepEqual(byName.runtime.user, { uid: 65534, gid: 65534 });
    const userOnly = loadConfigText(base('runtime: {user: root}\n'), FILE).config!;
    assert.deepEqual(userOnly.runtime.user, { uid: 0, gid: 0 }, "the user's own group");
    const numbers = loadConfigText(base('runtime: {user: 4242, group: "4343"}\n'), FILE).config!;
    assert.deepEqual(numbers.runtime.user, { uid: 4242, gid: 4343 });
    assert.match(problems(base('runtime: {user: no-such-user-here}\n'))[0]!, /lb\.yaml:\d+:\d+: runtime\.user: no user named `no-such-user-here` in \/etc\/passwd/);
    assert.match(problems(base('runtime: {user: nobody, group: no-such-group}\n'))[0]!, /runtime\.group: no group named `no-such-group`/);
    assert.match(problems(base('runtime: {group: nogroup}\n'))[0]!, /runtime\.group: group without user/);
  });

  it('turns the control socket off with false', () => {
    const { config } = loadConfigText(base('runtime: {control_socket: false}\n'), FILE);
    assert.equal(config!.runtime.controlSocket, false);
  });

  it('refuses bad values with file, line and key path', () => {
    assert.deepEqual(problems(base('runtime:\n  workers: 0\n')), ['lb.yaml:11:12: runtime.workers: expected "auto" (one per CPU core) or a count from 1 to 256, got 0']);
    assert.match(problems(base('runtime:\n  workers: many\n'))[0]!, /runtime\.workers: expected "auto"/);
    assert.match(problems(base('runtime:\n  shutdown_timeout: 0s\n'))[0]!, /runtime\.shutdown_timeout: a timeout of 0 would expire at once/);
    assert.match(problems(base('logging:\n  level: loud\n'))[0]!, /lb\.yaml:11:10: logging\.level: expected one of `trace`/);
    assert.match(problems(base('runtime:\n  wrokers: 2\n'))[0]!, /runtime\.wrokers: unknown key `wrokers`; did you mean `workers`\?/);
  });
});

describe('request_id', () => {
  it('is off by default (as in HAProxy and nginx), on with `request_id: {}`, may be set or turned off', () => {
    assert.equal(loadConfigText(base('', ''), FILE).config!.listeners[0]!.requestId, null);
    const a = loadConfigText(base('', '    request_id: {}'), FILE).config!;
    assert.deepEqual(a.listeners[0]!.requestId, { header: 'X-Request-ID', generate: true, response: true });
    const b = loadConfigText(base('', '    request_id: {header: X-Trace, response: false}'), FILE).config!;
    assert.deepEqual(b.listeners[0]!.requestId, { header: 'X-Trace', generate: true, response: false });
    assert.equal(loadConfigText(base('', '    request_id: {enabled: false}'), FILE).config!.listeners[0]!.requestId, null);
  });

  it('refuses a bad header name and tcp listeners', () => {
    assert.match(problems(base('', "    request_id: {header: 'X Req'}"))[0]!, /listeners\[0\]\.request_id\.header: "X Req" is not a header field name/);
    assert.match(problems(base('', '    request_id: {header: Via}'))[0]!, /listeners\[0\]\.request_id\.header: Via is a field the proxy itself reads or writes/);
    assert.match(problems(base('', '    request_id: {generate: false}', 'tcp'))[0]!, /listeners\[0\]\.request_id: request IDs are HTTP headers/);
  });
});

describe('access_log', () => {
  it('takes a path alone (combined format) or a path and a format', () => {
    const a = loadConfigText(base('', '    access_log: stdout'), FILE).config!;
    assert.deepEqual(a.listeners[0]!.accessLog, { path: 'stdout', format: 'combined', template: null });
    const b = loadConfigText(base('', '    access_log: {path: /var/log/www.log, format: json}'), FILE).config!;
    assert.deepEqual(b.listeners[0]!.accessLog, { path: '/var/log/www.log', format: 'json', template: null });
    const c = loadConfigText(base('', "    access_log: {format: custom, template: '$remote_addr \"$request\" $status $http_user_agent'}"), FILE).config!;
    assert.deepEqual(c.listeners[0]!.accessLog, { path: 'stdout', format: 'custom', template: '$remote_addr "$request" $status $http_user_agent' });
  });

  it('refuses a custom template with an unknown variable, at its file, line and key', () => {
    const p = problems(base('', "    access_log: {format: custom, template: '$remote_addr $upstream_status'}"));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /lb\.yaml:\d+:\d+: listeners\[0\]\.access_log\.template: unknown variable \$upstream_status at character 14/);
    assert.match(problems(base('', "    access_log: {format: custom, template: 'cost: $ 5'}"))[0]!, /access_log\.template: a lone "\$" at character 7/);
  });

  it('wants a template with format custom, and only then', () => {
    assert.match(problems(base('', '    access_log: {format: custom}'))[0]!, /listeners\[0\]\.access_log\.format: format `custom` writes the line `template` says/);
    assert.match(problems(base('', "    access_log: {format: json, template: '$status'}"))[0]!, /listeners\[0\]\.access_log\.template: a `template` is the line of format `custom`/);
    assert.match(problems(base('', "    access_log: {format: custom, template: '$status'}", 'tcp'))[0]!, /the custom log format records HTTP requests/);
  });

  it('is json only on tcp listeners and absent on udp ones', () => {
    assert.match(problems(base('', '    access_log: {path: stdout, format: common}', 'tcp'))[0]!, /listeners\[0\]\.access_log\.format: the common log format records HTTP requests/);
    assert.match(problems(base('', '    access_log: stdout', 'tcp'))[0]!, /listeners\[0\]\.access_log: .*give `\{path: \.\.\., format: json\}`/);
    assert.deepEqual(loadConfigText(base('', '    access_log: {path: stdout, format: json}', 'tcp'), FILE).issues, []);
    assert.match(problems(base('', '    access_log: stdout', 'udp'))[0]!, /listeners\[0\]\.access_log: access logs record HTTP requests or TCP connections/);
  });

  it('refuses an unknown format', () => {
    assert.match(problems(base('', '    access_log: {path: stdout, format: fancy}'))[0]!, /listeners\[0\]\.access_log/);
  });
});

describe('--workers', () => {
  it('takes a count or auto', () => {
    assert.equal(parseWorkersFlag(undefined), undefined);
    assert.equal(parseWorkersFlag('2'), 2);
    assert.ok(parseWorkersFlag('auto')! >= 1);
    assert.throws(() => parseWorkersFlag('0'), /--workers 0: expected a count from 1 to 256, or auto/);
    assert.throws(() => parseWorkersFlag('two'), /--workers two/);
  });
});

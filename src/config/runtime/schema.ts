/** The zod schema of the `runtime:` section: worker processes, draining, the control socket, the user. */
import { z } from 'zod';
import type { FieldMeta } from '../common/field-meta.js';
import { DEFAULT_RUNTIME } from './defaults.js';
import { lookupGroup, lookupUser } from './accounts.js';
import { converted, durationMs, describeValue } from '../common/fields.js';

/** `workers: auto` or a count. */
const workers = converted((v): number | 'auto' => {
  if (v === 'auto') return 'auto';
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 256) {
    throw new Error(`expected "auto" (one per CPU core) or a count from 1 to 256, got ${describeValue(v)}`);
  }
  return v;
}, { type: '`auto`, or integer 1..256', input: { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1, maximum: 256 }] } });

const ACCOUNT: FieldMeta = { type: 'name or number', input: { type: ['string', 'integer'] } };

/** The `runtime:` section: worker processes, draining, the control socket; its output is RuntimeConfig (types.ts). */
export const runtime = z
  .strictObject({
    workers: workers.default(DEFAULT_RUNTIME.workers).describe('worker processes owning the listeners: `auto` is one per CPU core; `--workers N` overrides it'),
    drain_timeout: durationMs
      .default(DEFAULT_RUNTIME.drainMs)
      .describe('after a reload, how long the old workers keep long-lived connections (WebSocket, TCP) before cutting them'),
    shutdown_timeout: durationMs.default(DEFAULT_RUNTIME.shutdownMs).describe('on stop, how long in-flight requests may take'),
    control_socket: z
      .union([z.string().min(1, 'expected a path, or false for no control socket'), z.literal(false)])
      .optional()
      .meta({
        defaultText: '`$RUNTIME_DIRECTORY/fulcrum.sock` under systemd, `/run/fulcrum.sock` (root), else `$XDG_RUNTIME_DIR/fulcrum-UID.sock` or `/tmp/fulcrum-UID.sock`',
        description: 'the path of the control socket (`fulcrum reload`, `stop`, `status`), or `false` for none',
      }),
    user: converted((v) => lookupUser(account(v, 'user')), ACCOUNT)
      .optional()
      .describe(
        'started as root, the primary and its workers become this user (a name from /etc/passwd or a number) once everything listens. The primary keeps only `CAP_NET_BIND_SERVICE` (a port below 1024), `CAP_NET_ADMIN` (`services:`, `vrrp:`) and `CAP_NET_RAW` (`vrrp:`) as the configuration needs; workers keep none. The configuration file and Fulcrum\'s own files must be readable by that user. Read at start only',
      ),
    group: converted((v) => lookupGroup(account(v, 'group')), ACCOUNT)
      .optional()
      .meta({ defaultText: 'the user\'s group', description: 'the group to become, with `user` only (a name or a number)' }),
  })
  .describe('worker processes, draining, the control socket, the user to run as')
  .superRefine((r, ctx) => {
    if (r.group !== undefined && r.user === undefined) ctx.addIssue({ code: 'custom', path: ['group'], message: 'group without user: give runtime.user too' });
  })
  .transform((r) => ({
    /** Worker processes owning the listeners: 'auto' is one per CPU core. */
    workers: r.workers,
    /** After a reload, how long old workers keep long-lived connections (WebSocket, TCP) before cutting them. */
    drainMs: r.drain_timeout,
    /** On stop (SIGTERM, SIGINT, `fulcrum stop`), how long in-flight requests may take before they are cut. */
    shutdownMs: r.shutdown_timeout,
    /** Unix socket for `fulcrum reload|stop|status`: a path, null for the default path, or false for none. */
    controlSocket: r.control_socket ?? null,
    /**
     * Started as root, every process becomes this user (and `group`) once its sockets are
     * set up, keeping only the capabilities the configuration needs; null: stay as started.
     */
    user: r.user === undefined ? null : { uid: r.user.uid, gid: r.group ?? r.user.gid },
  }));

/** A user or group as written: a name, or a number. */
function account(v: unknown, what: string): string | number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32) return v;
  if (typeof v === 'string' && v !== '') return /^\d+$/.test(v) ? Number(v) : v;
  throw new Error(`expected a ${what} name or number, got ${describeValue(v)}`);
}

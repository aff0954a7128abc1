/**
 * The zod schema of the `admin:` section: the admin listener (JSON runtime API, live
 * dashboard, Prometheus metrics). Whether a `listen` address off loopback has a token,
 * and whether it clashes with a listener, is checked by checks.ts.
 */
import { z } from 'zod';
import { parseBind } from '../common/address.js';
import { describeValue } from '../common/field-error.js';
import { text } from '../common/field-meta.js';
import { converted } from '../common/fields.js';
import { DEFAULT_ADMIN } from './defaults.js';

/** `listen`: "127.0.0.1:9090", "[::1]:9090", ":9090" (every IPv4 address); port 0 picks a free port. */
const listen = converted((v) => {
  if (typeof v !== 'string') throw new Error(`expected HOST:PORT such as "127.0.0.1:9090", got ${describeValue(v)}`);
  return parseBind(v);
}, text('HOST:PORT'));

const path = converted((v) => {
  if (typeof v !== 'string' || v === '') throw new Error(`expected a file path such as "/etc/fulcrum/admin.token", got ${describeValue(v)}`);
  return v;
}, text('path', { minLength: 1 }));

/** The section field by field, for checks.ts. */
export const adminFields = z.strictObject({
  listen: listen
    .default(parseBind(DEFAULT_ADMIN.listen))
    .meta({
      default: DEFAULT_ADMIN.listen,
      description:
        'the address of the admin listener (HTTP): the runtime API under `/api/`, the dashboard at `/`, the metrics at `/metrics`. An address other than loopback needs `token_file`',
    }),
  token_file: path
    .optional()
    .meta({
      defaultText: 'none: state-changing calls need no token (loopback only)',
      description:
        'a file holding the access token (surrounding white space ignored; relative to the configuration file): every call that changes state must send `Authorization: Bearer TOKEN`; reads stay open. Read at start and on every reload',
    }),
  dashboard: z.boolean().default(DEFAULT_ADMIN.dashboard).describe('serve the live dashboard at `/`'),
  metrics: z.boolean().default(DEFAULT_ADMIN.metrics).describe('serve the Prometheus metrics at `/metrics`'),
});

/** The `admin:` section; its output is AdminConfig (types.ts) but for the token file's path, which load.ts resolves. */
export const admin = adminFields
  .describe('the admin listener: a JSON runtime API (server states, weights, checks), a live dashboard and Prometheus metrics')
  .transform((a) => ({
    host: a.listen.host,
    port: a.listen.port,
    tokenFile: a.token_file ?? null,
    dashboard: a.dashboard,
    metrics: a.metrics,
  }));

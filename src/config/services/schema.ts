/**
 * The zod schema of the `services:` section (virtual services of the kernel data plane).
 * Field parsers live in parse.ts; cross-checks in checks.ts.
 */
import { z } from 'zod';
import { converted, nameProblem, positiveDuration, requireString } from '../common/fields.js';
import { integer, text } from '../common/field-meta.js';
import { formatDuration } from '../common/units.js';
import {
  MAX_TABLE_SIZE,
  MIN_TABLE_SIZE,
  TABLE_SIZES,
  parseInterface,
  parsePorts,
  parseSnat,
  parseTableSize,
  parseVip,
  SERVICE_HASHES,
  SERVICE_MODES,
  SERVICE_PROTOCOLS,
  type ParsedService,
} from './parse.js';
import { DEFAULT_DRAIN_MS, DEFAULT_HASH } from './defaults.js';

/** A service's fields, as written (checks.ts reads them one by one). */
export const serviceFields = z
  .strictObject({
    name: converted((v) => {
      const s = requireString('a name', '"www"')(v);
      const problem = nameProblem(s);
      if (problem) throw new Error(problem);
      return s;
    }, text('name')).describe('unique; the rules carry it (`comment "fulcrum service NAME"`)'),
    vip: converted(parseVip, text('IPv4 address')).describe('the virtual IP, which must be an address of the balancer (`ip addr add VIP/32 dev eth0`); refused at start otherwise'),
    port: converted(parsePorts, { type: 'port, or a list', input: { anyOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 }, minItems: 1 }] } }).describe(
      'two services (or a service and a listener bound to the VIP) may not take the same VIP, protocol and port',
    ),
    protocol: z.enum(SERVICE_PROTOCOLS).default('tcp').describe('the transport balanced'),
    mode: z.enum(SERVICE_MODES).describe('`nat`: the balancer rewrites addresses both ways; `dsr`: direct server return, the servers answer clients directly'),
    pool: converted(requireString('a pool name', '"web"'), text('pool name')).describe(
      'its servers must be IPv4 addresses; a pool with `send_proxy` is refused. With one NAT port the servers may listen on another port (it is translated); in DSR, or with several ports, the port is kept, so each server\'s port must be one of the service\'s',
    ),
    interface: converted(parseInterface, text('interface name'))
      .optional()
      .describe('DSR: required, the servers must be on its link (checked at start with the routing table). NAT: only packets arriving here are rewritten'),
    // Which modes take these is checked by checks.ts.
    snat: converted(parseSnat, { type: 'boolean, or IPv4 address', input: { type: ['boolean', 'string'] } }).optional().meta({
      defaultText: '`false`',
      description: 'NAT only. `false`: the servers route replies through the balancer; `true`: the source is rewritten to the balancer\'s address towards the server (masquerade); an address: to that address',
    }),
    hash: z
      .enum(SERVICE_HASHES)
      .default(DEFAULT_HASH)
      .describe('what picks the server: `flow` hashes source and destination address and port; `client` the source address only, so a client\'s connections all go to one server'),
    table_size: converted(parseTableSize, { ...integer(MIN_TABLE_SIZE, MAX_TABLE_SIZE), type: `prime, ${MIN_TABLE_SIZE}..${MAX_TABLE_SIZE}` })
      .optional()
      .meta({ defaultText: `the first of ${TABLE_SIZES.join(', ')} giving each server at least 100 entries`, description: 'entries of the Maglev table' }),
    drain_time: positiveDuration('a drain time of 0 would cut a failed server\'s connections at once; give a positive duration such as "1s"')
      .optional()
      .meta({ default: formatDuration(DEFAULT_DRAIN_MS), description: 'NAT only: how long the TCP flows of a server that went down keep their connection tracking' }),
  });

const service = serviceFields
  .transform(
    (s): ParsedService => ({
      name: s.name,
      vip: s.vip,
      ports: s.port,
      protocol: s.protocol,
      mode: s.mode,
      pool: s.pool,
      interface: s.interface ?? null,
      snat: s.snat ?? null,
      hash: s.hash,
      tableSize: s.table_size ?? null,
      drainMs: s.drain_time ?? DEFAULT_DRAIN_MS,
    }),
  );

/** `services:`: a list of virtual services. */
export const services = z.array(service).describe('virtual services of the kernel data plane (nftables): NAT or direct server return');

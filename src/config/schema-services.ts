/**
 * The zod schema of the `services:` section (virtual services of the kernel data plane).
 * Field parsers live in services.ts; cross-checks in validate-services.ts.
 *
 * Imported by schema.ts only, which it imports back: at the top level it may call only
 * schema.ts's function declarations (converted, requireString, positiveDuration,
 * nameProblem), never read its constants, so either module may be evaluated first.
 */
import { z } from 'zod';
import { converted, nameProblem, positiveDuration, requireString } from './schema.js';
import {
  DEFAULT_DRAIN_MS,
  DEFAULT_HASH,
  parseInterface,
  parsePorts,
  parseSnat,
  parseTableSize,
  parseVip,
  SERVICE_HASHES,
  SERVICE_MODES,
  SERVICE_PROTOCOLS,
  type ParsedService,
} from './services.js';

const service = z
  .strictObject({
    name: converted((v) => {
      const s = requireString('a name', '"www"')(v);
      const problem = nameProblem(s);
      if (problem) throw new Error(problem);
      return s;
    }),
    vip: converted(parseVip),
    port: converted(parsePorts),
    protocol: z.enum(SERVICE_PROTOCOLS).default('tcp'),
    mode: z.enum(SERVICE_MODES),
    pool: converted(requireString('a pool name', '"web"')),
    interface: converted(parseInterface).optional(),
    // Which modes take these is checked by validate-services.ts.
    snat: converted(parseSnat).optional(),
    hash: z.enum(SERVICE_HASHES).default(DEFAULT_HASH),
    table_size: converted(parseTableSize).optional(),
    drain_time: positiveDuration('a drain time of 0 would cut a failed server\'s connections at once; give a positive duration such as "1s"').optional(),
  })
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
export const services = z.array(service);

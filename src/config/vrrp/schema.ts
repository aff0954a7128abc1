/**
 * The zod schema of the `vrrp:` section (snake_case keys, strict objects, defaults from
 * parse.ts). What a single field cannot know (unique names and VRIDs, tracked listeners
 * and pools that exist, addresses inside the interface's subnet) is checked by
 * checks.ts.
 */
import { z } from 'zod';
import { describeValue } from '../common/field-error.js';
import { converted } from '../common/fields.js';
import { formatDuration, parseDuration } from '../common/units.js';
import { DURATION, integer, oneOrList, text as textMeta } from '../common/field-meta.js';
import { DEFAULT_VRRP } from './defaults.js';
import { ipv4Text, MAX_VIPS, parseAdvertInterval, parseNotify, parseVip, type ParsedVrrpInstance } from './parse.js';

function intRange(min: number, max: number, what = '') {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`must be an integer from ${min} to ${max}${what}, got ${describeValue(v)}`);
    return v;
  }, integer(min, max));
}

function duration(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a duration such as "1s" or "100ms", got ${describeValue(v)}`);
    const ms = parseDuration(v);
    if (ms < min || ms > max) throw new Error(`must be from ${formatDuration(min)} to ${formatDuration(max)}, got ${formatDuration(ms)}`);
    return ms;
  }, { ...DURATION, type: `duration, ${formatDuration(min)}..${formatDuration(max)}` });
}

const text = (what: string, example: string) =>
  converted((v) => {
    if (typeof v !== 'string' || v === '') throw new Error(`expected ${what} such as ${example}, got ${describeValue(v)}`);
    return v;
  }, textMeta(what.replace(/^an? /, ''), { minLength: 1 }));

const HOUR = 3_600_000;

const garp = z
  .strictObject({
    count: intRange(0, 100).default(DEFAULT_VRRP.garp.count).describe('gratuitous ARP packets sent on taking over'),
    interval: duration(0, 10_000).default(DEFAULT_VRRP.garp.intervalMs).describe('time between them'),
    repeat_after: duration(0, HOUR).default(DEFAULT_VRRP.garp.repeatAfterMs).describe('send them again this long after taking over (0: not)'),
    refresh: duration(0, 24 * HOUR).default(DEFAULT_VRRP.garp.refreshMs).describe('then again every this long while master (0: not)'),
  })
  .describe('gratuitous ARP on taking over, so switches and neighbours learn where the addresses went')
  .transform((g) => ({ count: g.count, intervalMs: g.interval, repeatAfterMs: g.repeat_after, refreshMs: g.refresh }));

/** One tracked thing: `{listener: NAME}` or `{pool: NAME}`, with a weight to subtract, or without one for fault. */
export const trackFields = z
  .strictObject({
    listener: text('a listener name', '"www"').optional().describe('fails when a connection to the listener fails (probed every `track_interval`)'),
    pool: text('a pool name', '"web"').optional().describe('fails when the pool has no usable server (checked on every health change)'),
    weight: intRange(1, 254, ' (subtracted from the priority while it fails; leave it out to go to fault instead)')
      .optional()
      .describe('subtracted from the priority while it fails; without it a failure puts the instance in fault (no address, no advertisements, a master resigns with priority 0)'),
  });

const track = trackFields
  .transform((t, ctx) => {
    if ((t.listener === undefined) === (t.pool === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'name exactly one thing to track: `listener: NAME` or `pool: NAME`', input: t });
      return z.NEVER;
    }
    return t.listener !== undefined
      ? { kind: 'listener' as const, name: t.listener, weight: t.weight ?? null }
      : { kind: 'pool' as const, name: t.pool!, weight: t.weight ?? null };
  });

/** An instance's fields, as written (checks.ts reads them one by one). */
export const instanceFields = z
  .strictObject({
    name: text('a name', '"www"').describe('unique instance name, used in logs, events and `notify`'),
    interface: text('an interface name', '"eth0"').describe('the interface the virtual addresses go on'),
    vrid: intRange(1, 255, ' (the virtual router id, the same on both nodes)').describe('the virtual router id, the same on both nodes'),
    priority: intRange(1, 255, ' (255 only for the owner of the addresses; 0 is sent on resignation and cannot be configured)')
      .default(DEFAULT_VRRP.priority)
      .describe('the highest usable priority is master; 255 only for the owner of the addresses'),
    advert_interval: converted(parseAdvertInterval, { ...DURATION, type: 'duration, 10ms..40.95s in steps of 10ms' })
      .default(DEFAULT_VRRP.advertIntervalMs / 10)
      .meta({ default: formatDuration(DEFAULT_VRRP.advertIntervalMs), description: 'time between the master\'s advertisements (sent in centiseconds)' }),
    virtual_ips: z
      .array(converted(parseVip, textMeta('IPv4 address, with an optional /PREFIX')))
      .min(1, 'give at least one virtual address, e.g. `[192.0.2.10/24]`')
      .max(MAX_VIPS, `at most ${MAX_VIPS} virtual addresses per instance`)
      .describe('IPv4 addresses, with the prefix they get on the interface (`/32` when none)'),
    preempt: z.boolean().default(DEFAULT_VRRP.preempt).describe('take over from a lower-priority master'),
    preempt_delay: duration(0, HOUR).default(DEFAULT_VRRP.preemptDelayMs).describe('preempt only this long after start-up'),
    source: converted(ipv4Text, textMeta('IPv4 address')).optional().meta({ defaultText: 'the interface\'s first address', description: 'the source address of advertisements' }),
    unicast_peers: z
      .array(converted(ipv4Text, textMeta('IPv4 address')))
      .default([])
      .meta({ defaultText: 'multicast', description: 'advertise by unicast to these peers (and accept only them)' }),
    garp: garp.prefault({}),
    track: z.array(track).default([]).describe('listeners and pools whose failure lowers the priority or puts the instance in fault'),
    track_interval: duration(10, 60_000).default(DEFAULT_VRRP.trackIntervalMs).describe('how often tracked listeners are probed'),
    notify: converted(parseNotify, oneOrList('command, or a list of its arguments'))
      .optional()
      .describe('a command run on every change with keepalived\'s arguments: `INSTANCE NAME MASTER|BACKUP|FAULT|STOP PRIORITY`'),
  })
  .meta({ title: 'VRRP instances', description: 'each one virtual router' });

const instance = instanceFields
  .transform(
    (i): ParsedVrrpInstance => ({
      name: i.name,
      interface: i.interface,
      vrid: i.vrid,
      priority: i.priority,
      advertIntervalCs: i.advert_interval,
      virtualIps: i.virtual_ips,
      preempt: i.preempt,
      preemptDelayMs: i.preempt_delay,
      source: i.source ?? null,
      unicastPeers: i.unicast_peers,
      garp: i.garp,
      track: i.track,
      trackIntervalMs: i.track_interval,
      notify: i.notify ?? null,
    }),
  );

/** The `vrrp:` section: `instances`, each one virtual router. */
export const vrrpSchema = z
  .strictObject({
    instances: z.array(instance).min(1, 'give at least one instance, e.g. `- {name: www, interface: eth0, vrid: 51, virtual_ips: [192.0.2.10/24]}`'),
  })
  .describe('high availability: virtual IP addresses shared with another balancer by VRRPv3 (keepalived speaks it too)')
  .transform((v) => v.instances);

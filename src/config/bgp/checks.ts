/**
 * Cross-checks of the `bgp:` section: peers named once, a listener for passive peers,
 * and the pools and listeners that conditions name exist.
 */
import { parseEach, type Obj, type PathIssue } from '../common/parsed.js';
import type { FileParts } from '../parts.js';
import { announceFields, peerFields } from './schema.js';

export function checkBgp(bgp: Obj, parts: FileParts, issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  parseEach(peerFields, bgp.peers).forEach((p, i) => {
    if (p === undefined) return;
    if (p.fields.address !== undefined) {
      const first = seen.get(p.fields.address);
      if (first !== undefined) issues.push({ path: ['bgp', 'peers', i, 'address'], message: `peer ${p.fields.address} is listed twice (first at peers[${first}])` });
      else seen.set(p.fields.address, i);
    }
    if (p.fields.passive === true && (bgp.listen === undefined || bgp.listen === false)) {
      issues.push({ path: ['bgp', 'peers', i, 'passive'], message: 'a passive peer connects to Fulcrum: set `bgp.listen`, such as "0.0.0.0:179"' });
    }
  });
  const pools = new Set(parts.pools?.keys() ?? []);
  const listeners = new Set(parts.listeners.flatMap((l) => (l?.fields.name === undefined ? [] : [l.fields.name])));
  parseEach(announceFields, bgp.announce).forEach((a, i) => {
    const w = a?.fields.when;
    if (w === undefined || w.kind === 'always') return;
    if (w.kind === 'pool' && !pools.has(w.name)) issues.push({ path: ['bgp', 'announce', i, 'when', 'pool'], message: `no pool named \`${w.name}\`` });
    if (w.kind === 'listener' && !listeners.has(w.name)) issues.push({ path: ['bgp', 'announce', i, 'when', 'listener'], message: `no listener named \`${w.name}\`` });
  });
}

/**
 * DNS answers counted by zone, name and response code, for the whole life of the
 * primary: each DNS server (a reload starts a new one) counts into the same tally, so
 * the totals never go back. Rows are made once per name; the responder keeps a
 * reference to its rows, so counting a query is an increment.
 */

/** Response codes by number, as metric label values. */
export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'noerror',
  1: 'formerr',
  2: 'servfail',
  3: 'nxdomain',
  4: 'notimp',
  5: 'refused',
  9: 'notauth',
  16: 'badvers',
};

/** Counts per response code (index: the code). */
export type RcodeRow = Float64Array;

const ROW_SIZE = 24;

export class DnsTally {
  private readonly rows = new Map<string, { zone: string; name: string; counts: RcodeRow }>();

  /**
   * The row of a name: `zone` is the zone's origin ("" for a query in no zone of ours),
   * `name` a name of the zone ("" for one it does not have, to bound the label's values).
   */
  row(zone: string, name: string): RcodeRow {
    const key = `${zone}\0${name}`;
    let r = this.rows.get(key);
    if (r === undefined) this.rows.set(key, (r = { zone, name, counts: new Float64Array(ROW_SIZE) }));
    return r.counts;
  }

  /** Every non-zero count, with its rcode's name (or its number when it has none here). */
  *counts(): Iterable<{ zone: string; name: string; rcode: string; count: number }> {
    for (const r of this.rows.values()) {
      for (let code = 0; code < ROW_SIZE; code++) {
        const count = r.counts[code]!;
        if (count > 0) yield { zone: r.zone, name: r.name, rcode: RCODE_NAMES[code] ?? String(code), count };
      }
    }
  }
}

import { eqLower, nameSlot } from './chars.js';

/**
 * Numeric ids for the header fields the proxy acts on. Every other field is OTHER and is
 * forwarded untouched, in its original case and order.
 */
export const enum H {
  OTHER = 0,
  HOST,
  CONTENT_LENGTH,
  TRANSFER_ENCODING,
  CONNECTION,
  KEEP_ALIVE,
  PROXY_CONNECTION,
  TE,
  TRAILER,
  UPGRADE,
  EXPECT,
  X_FORWARDED_FOR,
  X_FORWARDED_PROTO,
  X_FORWARDED_HOST,
  FORWARDED,
  PROXY_AUTHENTICATE,
  PROXY_AUTHORIZATION,
  COOKIE,
}

/** The lower-case names of the ids other than OTHER. */
export const NAMES: ReadonlyArray<readonly [string, H]> = [
  ['host', H.HOST],
  ['content-length', H.CONTENT_LENGTH],
  ['transfer-encoding', H.TRANSFER_ENCODING],
  ['connection', H.CONNECTION],
  ['keep-alive', H.KEEP_ALIVE],
  ['proxy-connection', H.PROXY_CONNECTION],
  ['te', H.TE],
  ['trailer', H.TRAILER],
  ['upgrade', H.UPGRADE],
  ['expect', H.EXPECT],
  ['x-forwarded-for', H.X_FORWARDED_FOR],
  ['x-forwarded-proto', H.X_FORWARDED_PROTO],
  ['x-forwarded-host', H.X_FORWARDED_HOST],
  ['forwarded', H.FORWARDED],
  ['proxy-authenticate', H.PROXY_AUTHENTICATE],
  ['proxy-authorization', H.PROXY_AUTHORIZATION],
  ['cookie', H.COOKIE],
];

const LONGEST = Math.max(...NAMES.map(([n]) => n.length));

const SLOT_NAME: string[] = new Array<string>((LONGEST + 1) * 26).fill('');
const SLOT_ID: H[] = new Array<H>((LONGEST + 1) * 26).fill(H.OTHER);
// no two of NAMES share a slot
for (const [name, id] of NAMES) {
  const k = nameSlot(name.length, name.charCodeAt(0), LONGEST);
  if (SLOT_NAME[k] !== '') throw new Error(`header-ids: ${name} and ${SLOT_NAME[k]} share a slot`);
  SLOT_NAME[k] = name;
  SLOT_ID[k] = id;
}

/** Classifies a header name without allocating: the one candidate of its length and first letter, then one comparison. */
export function headerId(name: string): H {
  const k = nameSlot(name.length, name.charCodeAt(0), LONGEST);
  return k >= 0 && eqLower(name, SLOT_NAME[k]!) ? SLOT_ID[k]! : H.OTHER;
}

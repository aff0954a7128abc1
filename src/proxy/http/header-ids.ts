import { eqLower } from './chars.js';

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

/** Classifies a header name without allocating: a length switch, then one comparison. */
export function headerId(name: string): H {
  switch (name.length) {
    case 2:
      return eqLower(name, 'te') ? H.TE : H.OTHER;
    case 4:
      return eqLower(name, 'host') ? H.HOST : H.OTHER;
    case 6:
      if (eqLower(name, 'cookie')) return H.COOKIE;
      return eqLower(name, 'expect') ? H.EXPECT : H.OTHER;
    case 7:
      if (eqLower(name, 'upgrade')) return H.UPGRADE;
      return eqLower(name, 'trailer') ? H.TRAILER : H.OTHER;
    case 9:
      return eqLower(name, 'forwarded') ? H.FORWARDED : H.OTHER;
    case 10:
      if (eqLower(name, 'connection')) return H.CONNECTION;
      return eqLower(name, 'keep-alive') ? H.KEEP_ALIVE : H.OTHER;
    case 14:
      return eqLower(name, 'content-length') ? H.CONTENT_LENGTH : H.OTHER;
    case 15:
      return eqLower(name, 'x-forwarded-for') ? H.X_FORWARDED_FOR : H.OTHER;
    case 16:
      if (eqLower(name, 'proxy-connection')) return H.PROXY_CONNECTION;
      return eqLower(name, 'x-forwarded-host') ? H.X_FORWARDED_HOST : H.OTHER;
    case 17:
      if (eqLower(name, 'transfer-encoding')) return H.TRANSFER_ENCODING;
      return eqLower(name, 'x-forwarded-proto') ? H.X_FORWARDED_PROTO : H.OTHER;
    case 18:
      return eqLower(name, 'proxy-authenticate') ? H.PROXY_AUTHENTICATE : H.OTHER;
    case 19:
      return eqLower(name, 'proxy-authorization') ? H.PROXY_AUTHORIZATION : H.OTHER;
    default:
      return H.OTHER;
  }
}

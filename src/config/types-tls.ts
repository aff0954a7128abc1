/** The TLS and HTTP/2 configuration types, kept at this path for the importers in src/proxy; they live in tls/types.ts. */
export type * from './tls/types.js';

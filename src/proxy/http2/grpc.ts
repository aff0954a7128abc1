/**
 * gRPC's view of the balancer's own answers (gRPC over HTTP/2, PROTOCOL-HTTP2.md in the
 * grpc repository): a gRPC client reads the call's status from `grpc-status` and
 * `grpc-message`, not from an HTTP status, so an error of ours goes as HTTP 200 with a
 * trailers-only response. Pure functions, no I/O.
 */
import type { OutgoingHttpHeaders } from 'node:http2';

/** gRPC status codes the balancer answers with. */
export const GRPC = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** True for a gRPC request's content type (application/grpc, application/grpc+proto, ...). */
export function isGrpcType(contentType: string): boolean {
  return contentType.startsWith('application/grpc') && (contentType.length === 16 || contentType.charCodeAt(16) === 0x2b || contentType.charCodeAt(16) === 0x3b);
}

/**
 * The gRPC status for an HTTP status of ours: gRPC's own mapping of HTTP statuses, except
 * that our timeouts (504 from a server too slow, 408 from a client too slow) say
 * DEADLINE_EXCEEDED.
 */
export function grpcStatusOf(status: number): number {
  switch (status) {
    case 400:
    case 431:
      return GRPC.INTERNAL;
    case 401:
      return GRPC.UNAUTHENTICATED;
    case 403:
      return GRPC.PERMISSION_DENIED;
    case 404:
    case 501:
      return GRPC.UNIMPLEMENTED;
    case 408:
    case 504:
      return GRPC.DEADLINE_EXCEEDED;
    case 413:
      return GRPC.RESOURCE_EXHAUSTED;
    case 429:
    case 502:
    case 503:
      return GRPC.UNAVAILABLE;
    default:
      return GRPC.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8: bytes outside 0x20..0x7e and "%" are escaped. */
export function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text.trim(), 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A trailers-only answer (HEADERS with END_STREAM): HTTP 200, the gRPC content type, the status and its message. */
export function grpcAnswer(code: number, message: string): OutgoingHttpHeaders {
  return { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(message) };
}

/** The trailers that end a call whose response already started. */
export function grpcTrailers(code: number, message: string): OutgoingHttpHeaders {
  return { 'grpc-status': String(code), 'grpc-message': grpcMessage(message) };
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout value ("1S", "250m": at most 8 digits and a unit H M S m u n) in ms, or -1 when malformed. */
export function grpcTimeoutMs(value: string): number {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return -1;
  return Math.ceil(Number(m[1]) * UNIT_MS[m[2]!]!);
}

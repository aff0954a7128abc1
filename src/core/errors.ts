/**
 * Errors with stable codes (in the spirit of undici's UND_ERR_*): callers and tests
 * match on `code`, never on message text, so messages can improve freely.
 */
export type FulcrumErrorCode =
  | 'FULCRUM_ERR_CONFIG'
  | 'FULCRUM_ERR_USAGE'
  | 'FULCRUM_ERR_LISTEN'
  | 'FULCRUM_ERR_UPSTREAM_CONNECT'
  | 'FULCRUM_ERR_UPSTREAM_TIMEOUT'
  | 'FULCRUM_ERR_UPSTREAM_PROTOCOL'
  | 'FULCRUM_ERR_UPSTREAM_CLOSED'
  | 'FULCRUM_ERR_NO_SERVER'
  | 'FULCRUM_ERR_DATAPLANE'
  | 'FULCRUM_ERR_PRIVILEGES';

/** Base class for every error Fulcrum raises on purpose. */
export class FulcrumError extends Error {
  readonly code: FulcrumErrorCode;
  constructor(code: FulcrumErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FulcrumError';
  }
}

import { AckscopeError, isErrorCode } from './errors.js';

/**
 * What every client of the HTTP API shares (the CLI, the senders, the experiment runner):
 * where the service is by default, and how an error reply becomes an AckscopeError.
 */
export const DEFAULT_SERVICE_URL = 'http://127.0.0.1:7878';

/** The service URL a client uses: explicit, else ACKSCOPE_URL, else the default; no trailing slash. */
export function serviceUrl(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return (explicit || env.ACKSCOPE_URL || DEFAULT_SERVICE_URL).replace(/\/+$/, '');
}

/**
 * An error reply (`{ "error": { "code", "message", "details" } }`) as an AckscopeError,
 * its code kept when it is one of ours. `context` (e.g. "GET /sessions/3") prefixes the message.
 */
export function errorFromReply(status: number, bodyText: string, context?: string): AckscopeError {
  let error: { code?: unknown; message?: unknown; details?: Record<string, unknown> } | undefined;
  try {
    error = (JSON.parse(bodyText) as { error?: typeof error })?.error;
  } catch {
    // not JSON: the text itself is the message
  }
  const prefix = context ? `${context}: ` : '';
  if (error && isErrorCode(error.code)) {
    const message = typeof error.message === 'string' ? error.message : `HTTP ${status}`;
    return new AckscopeError(error.code, `${prefix}${message}`, error.details);
  }
  return new AckscopeError('ACKSCOPE_ERR_INTERNAL', `${prefix}the service answered HTTP ${status}: ${bodyText.slice(0, 2000)}`);
}

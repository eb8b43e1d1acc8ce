import { readFileSync } from 'node:fs';
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
 * The Authorization header a client sends: `Bearer <ACKSCOPE_TOKEN>` (or the token in the
 * file ACKSCOPE_TOKEN_FILE names), none when neither is set. A service on loopback
 * without a token ignores it; one with a token needs it on every route but /healthz.
 */
export function authHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  let token = env.ACKSCOPE_TOKEN?.trim();
  if (!token && env.ACKSCOPE_TOKEN_FILE) {
    try {
      token = readFileSync(env.ACKSCOPE_TOKEN_FILE, 'utf8').trim();
    } catch (err) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_VALIDATION',
        `ACKSCOPE_TOKEN_FILE=${env.ACKSCOPE_TOKEN_FILE} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  return token ? { authorization: `Bearer ${token}` } : {};
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

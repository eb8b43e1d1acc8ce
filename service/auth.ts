import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { AckscopeError } from '../core/errors.js';

/**
 * Who may use the service. The rule: without a token the service listens on loopback
 * only (whoever can reach 127.0.0.1 is already on the host); any other address needs
 * ACKSCOPE_TOKEN, and with a token every route but the public ones below needs
 * `Authorization: Bearer <token>`. The service can start packet capture on any of the
 * host's interfaces, so an open port on the network is not an option.
 */

/** Shortest token accepted: 128 bits as hex, so a guessed token is not a worry. */
export const MIN_TOKEN_LENGTH = 32;

/**
 * Routes anyone may call even with a token set, by their route pattern: the liveness
 * probe (for orchestrators), the web page's shell and its script bundle. None of them
 * reads the database: the page asks for the token and sends it on every data request
 * (/ui/data/* and the API are not public). A browser cannot add a header to a page
 * navigation, so the shell itself has to load without one.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/', '/ui/:file']);

/** true for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`; every other address or name is exposed. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Why the service must not start with this host and token, or null when it may (pure).
 * The message says what to do, in the words of the environment variables.
 */
export function exposureProblem(host: string, token: string | null): string | null {
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    return (
      `ACKSCOPE_TOKEN is ${token.length} characters long; use at least ${MIN_TOKEN_LENGTH} ` +
      '(e.g. `openssl rand -hex 32`)'
    );
  }
  if (isLoopbackHost(host) || token !== null) return null;
  return (
    `refusing to listen on ${host} without a token: anyone who reaches that address could start packet ` +
    'captures on this host. Set ACKSCOPE_TOKEN (or ACKSCOPE_TOKEN_FILE, a file holding it), e.g. ' +
    '`export ACKSCOPE_TOKEN=$(openssl rand -hex 32)`, and send it as `Authorization: Bearer <token>`; ' +
    'or listen on loopback only (unset ACKSCOPE_HOST, default 127.0.0.1).'
  );
}

/** The token to compare with, from ACKSCOPE_TOKEN or the file ACKSCOPE_TOKEN_FILE names (trimmed). */
export function tokenFromEnv(env: NodeJS.ProcessEnv, readFile: (path: string) => string): string | null {
  const inline = env.ACKSCOPE_TOKEN;
  const file = env.ACKSCOPE_TOKEN_FILE;
  if (inline && file) {
    throw new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', 'set ACKSCOPE_TOKEN or ACKSCOPE_TOKEN_FILE, not both');
  }
  if (inline) return inline.trim();
  if (!file) return null;
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_CONFIG_INVALID',
      `ACKSCOPE_TOKEN_FILE=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const token = text.trim();
  if (!token) throw new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', `ACKSCOPE_TOKEN_FILE=${file} is empty`);
  return token;
}

/**
 * Compares in constant time: both sides are hashed to 32 bytes first, so neither the
 * length nor the first differing byte of a wrong token changes how long this takes.
 */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Checks one request's Authorization header against the token; null when it passes,
 * else the refusal. The message says what is missing or malformed, never how close a
 * wrong token came.
 */
export function authRefusal(expected: string, header: string | undefined): AckscopeError | null {
  if (header === undefined || header === '') {
    return new AckscopeError(
      'ACKSCOPE_ERR_AUTH_REQUIRED',
      'this service needs a token: send `Authorization: Bearer <token>` (the CLI sends ACKSCOPE_TOKEN)',
    );
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    return new AckscopeError('ACKSCOPE_ERR_AUTH_REQUIRED', 'the Authorization header must be `Bearer <token>`');
  }
  if (!tokenMatches(expected, match[1])) {
    return new AckscopeError('ACKSCOPE_ERR_AUTH_REQUIRED', 'the bearer token is not accepted');
  }
  return null;
}

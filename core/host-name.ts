/**
 * A host's name as ackscope keeps it: written in every row a service stores
 * (ACKSCOPE_STORE_HOST), a path segment of `PUT /sessions/:id/hosts/:host`, a key of a
 * session's per-host clock errors. One rule for all three, so a name the route takes is
 * one a service can run under and the other way round.
 *
 * The rule is a DNS host name's alphabet plus `_` (machine names and container names
 * use it): 1 to 253 characters of letters, digits, `.`, `-` and `_`, starting with a
 * letter or digit. It leaves out what would need escaping in a URL path or read two
 * ways (`/`, `%`, spaces, `:` of an IPv6 literal: name such a host, e.g. `fe80-1`), and
 * it is case-sensitive as stored (two spellings are two hosts: say one).
 */
import { AckscopeError } from './errors.js';

export const HOST_NAME_MAX = 253;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `name` is not a host name, or null when it is one. */
export function hostNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.length > HOST_NAME_MAX) return `is ${name.length} characters long, at most ${HOST_NAME_MAX}`;
  if (!HOST_NAME.test(name)) {
    return /^[A-Za-z0-9]/.test(name)
      ? 'may hold only letters, digits, ".", "-" and "_"'
      : 'must start with a letter or a digit';
  }
  return null;
}

/** `name` when it is a host name; else ACKSCOPE_ERR_VALIDATION naming `field` (or the code given, e.g. for a setting). */
export function checkHostName(name: string, field: string, code: 'ACKSCOPE_ERR_VALIDATION' | 'ACKSCOPE_ERR_CONFIG_INVALID' = 'ACKSCOPE_ERR_VALIDATION'): string {
  const problem = hostNameProblem(name);
  if (problem !== null) {
    // JSON.stringify: a control character in the name shows as an escape, not as itself
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
    throw new AckscopeError(code, `${field}: host name ${shown} ${problem}`, { field });
  }
  return name;
}

/**
 * The one registry of ackscope's error codes (the ground floor: every layer may import
 * this, it imports nothing of ackscope). Every error a user can see is an AckscopeError
 * with a code from here. The HTTP status of each code lives with the HTTP layer
 * (service/http-errors.ts); docs/errors.md lists the same codes (a test keeps them in step).
 */
export const ERROR_CODES = {
  ACKSCOPE_ERR_VALIDATION: 'a request field is missing or invalid; the message names it',
  ACKSCOPE_ERR_NOT_FOUND: 'no such route or resource id',
  ACKSCOPE_ERR_SESSION_NOT_FOUND: 'no session with that id',
  ACKSCOPE_ERR_SESSION_STATE: 'the session is not in a state that allows the operation',
  ACKSCOPE_ERR_SESSION_KIND: 'the operation needs a session of the other kind (live or import)',
  ACKSCOPE_ERR_CONFLICT: 'a record conflicts with one already stored',
  ACKSCOPE_ERR_PAYLOAD_TOO_LARGE: 'the upload is larger than the configured limit',
  ACKSCOPE_ERR_UNSUPPORTED_MEDIA: 'the request body has a content type this route does not take',
  ACKSCOPE_ERR_CAPTURE_FILE: 'a pcap/pcapng file is malformed; the message gives the byte offset',
  ACKSCOPE_ERR_CAPTURE_INTERFACE: 'libpcap does not know the interface',
  ACKSCOPE_ERR_CAPTURE_FILTER: 'the BPF filter does not compile; libpcap says why',
  ACKSCOPE_ERR_CAPTURE_PERMISSION: 'no permission to capture (run as root or grant CAP_NET_RAW)',
  ACKSCOPE_ERR_CAPTURE_FAILED: 'libpcap failed while opening or capturing',
  ACKSCOPE_ERR_CAPTURE_UNAVAILABLE: 'the native capture addon is not built or cannot load',
  ACKSCOPE_ERR_COMPLETION_INVALID: 'a completion record is invalid; the message names its index and field',
  ACKSCOPE_ERR_NATIVE_UNSUPPORTED: 'the platform lacks the socket option or clock asked for',
  ACKSCOPE_ERR_RIG_PERMISSION: 'the network rig needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create namespaces and qdiscs',
  ACKSCOPE_ERR_RIG_FAILED: 'an ip/tc command of the network rig failed; the message gives the command and its output',
  ACKSCOPE_ERR_EXPERIMENT_FAILED: 'a point of an experiment failed; the message names the point and the step',
  ACKSCOPE_ERR_SENDER_FAILED: 'a sender (`ackscope send` or a C sender in sender/c) could not start, connect or finish; the message says why (a C sender\'s exit code and stderr)',
  ACKSCOPE_ERR_SERVICE_UNREACHABLE: 'a CLI command or sender cannot reach the ackscope service at its URL (ACKSCOPE_URL)',
  ACKSCOPE_ERR_AUTH_REQUIRED: 'the service has a token (ACKSCOPE_TOKEN) and the request did not carry it as `Authorization: Bearer <token>`',
  ACKSCOPE_ERR_CONFIG_INVALID: 'the service refuses to start: a setting is invalid or unsafe (e.g. a non-loopback ACKSCOPE_HOST without ACKSCOPE_TOKEN); the message says how to fix it',
  ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW: 'the database was migrated by a newer ackscope',
  ACKSCOPE_ERR_STORE_UNREACHABLE: 'the ClickHouse store (ACKSCOPE_STORE) cannot be reached: connection refused, no such host, or no answer within the timeout',
  ACKSCOPE_ERR_STORE_REFUSED: 'the ClickHouse store refused the connection: wrong user or password, address not allowed, unknown database, or no permission',
  ACKSCOPE_ERR_STORE_QUERY: 'the ClickHouse store failed a statement; the message carries ClickHouse\'s code and text',
  ACKSCOPE_ERR_STORE_VALUE: 'a value cannot be written safely into a ClickHouse statement (out of range for its type, not an integer, a lone UTF-16 surrogate, a name off the allow-list); the message names it',
  ACKSCOPE_ERR_STORE_UNSUPPORTED: 'the chosen store (ACKSCOPE_STORE) does not serve this route yet; the message names the route and the store that does',
  ACKSCOPE_ERR_TRACER_USAGE: 'the tracer was given a bad command line',
  ACKSCOPE_ERR_TRACER_PERMISSION: 'the tracer needs root, or CAP_BPF and CAP_PERFMON; the message names what is missing',
  ACKSCOPE_ERR_TRACER_NO_BTF: 'the kernel has no BTF (/sys/kernel/btf/vmlinux): the tracer cannot run on it',
  ACKSCOPE_ERR_TRACER_NO_TRACEPOINT: 'the kernel lacks a tracepoint the tracer uses; the message names it',
  ACKSCOPE_ERR_TRACER_NO_PID: 'no process with that PID',
  ACKSCOPE_ERR_TRACER_COMMAND: 'the command to trace cannot start; the message gives its errno',
  ACKSCOPE_ERR_TRACER_LOAD: 'the kernel refused to load or attach the tracer\'s programs',
  ACKSCOPE_ERR_TRACER_UNAVAILABLE: 'the tracer binary is not built (scripts/build.sh) or this is not Linux x86_64',
  ACKSCOPE_ERR_TRACER_EVENT: 'a line from the tracer is not a valid event; the message names the field',
  ACKSCOPE_ERR_INTERNAL: 'a bug: the message and the log say where',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export class AckscopeError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (field name, record index, byte offset, ...). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AckscopeError';
    this.code = code;
    if (details) this.details = details;
  }
}

export function isAckscopeError(err: unknown): err is AckscopeError {
  return err instanceof AckscopeError;
}

/** "session N does not exist": the same words wherever a session id is looked up. */
export function sessionNotFound(sessionId: number): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_SESSION_NOT_FOUND', `session ${sessionId} does not exist`, { id: sessionId });
}

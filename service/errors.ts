/**
 * The one registry of ackscope's error codes. Every error a user can see is an
 * AckscopeError with a code from here; the HTTP layer turns it into
 * `{ "error": { "code", "message" } }` with the registered status.
 * docs/errors.md lists the same codes (a test keeps the two in step).
 */
export const ERROR_CODES = {
  ACKSCOPE_ERR_VALIDATION: { status: 400, what: 'a request field is missing or invalid; the message names it' },
  ACKSCOPE_ERR_NOT_FOUND: { status: 404, what: 'no such route or resource id' },
  ACKSCOPE_ERR_SESSION_NOT_FOUND: { status: 404, what: 'no session with that id' },
  ACKSCOPE_ERR_SESSION_STATE: { status: 409, what: 'the session is not in a state that allows the operation' },
  ACKSCOPE_ERR_SESSION_KIND: { status: 409, what: 'the operation needs a session of the other kind (live or import)' },
  ACKSCOPE_ERR_CONFLICT: { status: 409, what: 'a record conflicts with one already stored' },
  ACKSCOPE_ERR_PAYLOAD_TOO_LARGE: { status: 413, what: 'the upload is larger than the configured limit' },
  ACKSCOPE_ERR_UNSUPPORTED_MEDIA: { status: 415, what: 'the request body has a content type this route does not take' },
  ACKSCOPE_ERR_CAPTURE_FILE: { status: 400, what: 'a pcap/pcapng file is malformed; the message gives the byte offset' },
  ACKSCOPE_ERR_CAPTURE_INTERFACE: { status: 400, what: 'libpcap does not know the interface' },
  ACKSCOPE_ERR_CAPTURE_FILTER: { status: 400, what: 'the BPF filter does not compile; libpcap says why' },
  ACKSCOPE_ERR_CAPTURE_PERMISSION: { status: 403, what: 'no permission to capture (run as root or grant CAP_NET_RAW)' },
  ACKSCOPE_ERR_CAPTURE_FAILED: { status: 500, what: 'libpcap failed while opening or capturing' },
  ACKSCOPE_ERR_CAPTURE_UNAVAILABLE: { status: 503, what: 'the native capture addon is not built or cannot load' },
  ACKSCOPE_ERR_COMPLETION_INVALID: { status: 400, what: 'a completion record is invalid; the message names its index and field' },
  ACKSCOPE_ERR_NATIVE_UNSUPPORTED: { status: 501, what: 'the platform lacks the socket option or clock asked for' },
  ACKSCOPE_ERR_RIG_PERMISSION: { status: 403, what: 'the network rig needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create namespaces and qdiscs' },
  ACKSCOPE_ERR_RIG_FAILED: { status: 500, what: 'an ip/tc command of the network rig failed; the message gives the command and its output' },
  ACKSCOPE_ERR_EXPERIMENT_FAILED: { status: 500, what: 'a point of an experiment failed; the message names the point and the step' },
  ACKSCOPE_ERR_SENDER_FAILED: { status: 500, what: 'a sender (`ackscope send` or a C sender in sender/c) could not start, connect or finish; the message says why (a C sender\'s exit code and stderr)' },
  ACKSCOPE_ERR_SERVICE_UNREACHABLE: { status: 502, what: 'a CLI command or sender cannot reach the ackscope service at its URL (ACKSCOPE_URL)' },
  ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW: { status: 500, what: 'the database was migrated by a newer ackscope' },
  ACKSCOPE_ERR_INTERNAL: { status: 500, what: 'a bug: the message and the log say where' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AckscopeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  /** Extra machine-readable facts (field name, record index, byte offset, ...). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AckscopeError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    if (details) this.details = details;
  }
}

export function isAckscopeError(err: unknown): err is AckscopeError {
  return err instanceof AckscopeError;
}

/**
 * The tracer's errors. core/errors.ts (the ground floor's registry) is being written on
 * main at the same time; until it is committed this folder keeps the minimum it needs:
 * an error class with a code. When core/errors.ts lands, these codes move into its
 * registry and TracerError becomes an AckscopeError.
 */
export const TRACER_ERROR_CODES = {
  ACKSCOPE_ERR_TRACER_USAGE: 'the tracer was given a bad command line',
  ACKSCOPE_ERR_TRACER_PERMISSION: 'the tracer needs root, or CAP_BPF and CAP_PERFMON; the message names what is missing',
  ACKSCOPE_ERR_TRACER_NO_BTF: 'the kernel has no BTF (/sys/kernel/btf/vmlinux): the tracer cannot run on it',
  ACKSCOPE_ERR_TRACER_NO_TRACEPOINT: 'the kernel lacks a tracepoint the tracer uses; the message names it',
  ACKSCOPE_ERR_TRACER_NO_PID: 'no process with that PID',
  ACKSCOPE_ERR_TRACER_COMMAND: 'the command to trace cannot start; the message gives its errno',
  ACKSCOPE_ERR_TRACER_LOAD: 'the kernel refused to load or attach the tracer\'s programs',
  ACKSCOPE_ERR_TRACER_UNAVAILABLE: 'the tracer binary is not built (scripts/build.sh) or this is not Linux x86_64',
  ACKSCOPE_ERR_TRACER_EVENT: 'a line from the tracer is not a valid event; the message names the field',
} as const;

export type TracerErrorCode = keyof typeof TRACER_ERROR_CODES;

export class TracerError extends Error {
  readonly code: TracerErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: TracerErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'TracerError';
    this.code = code;
    if (details) this.details = details;
  }
}

/** The tracer binary's exit codes for its own failures (tracer/src/tracer.c). */
export const TRACER_EXIT_CODES: Readonly<Record<number, TracerErrorCode>> = {
  64: 'ACKSCOPE_ERR_TRACER_USAGE',
  65: 'ACKSCOPE_ERR_TRACER_PERMISSION',
  66: 'ACKSCOPE_ERR_TRACER_NO_BTF',
  67: 'ACKSCOPE_ERR_TRACER_NO_TRACEPOINT',
  68: 'ACKSCOPE_ERR_TRACER_NO_PID',
  69: 'ACKSCOPE_ERR_TRACER_COMMAND',
  70: 'ACKSCOPE_ERR_TRACER_LOAD',
  71: 'ACKSCOPE_ERR_TRACER_UNAVAILABLE',
};

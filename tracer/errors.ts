/** The tracer's errors and the exit codes of its binary. */

import { AckscopeError, type ErrorCode } from '../core/errors.js';
export type TracerErrorCode = Extract<ErrorCode, `ACKSCOPE_ERR_TRACER_${string}`>;

/** The tracer's errors are AckscopeErrors with ACKSCOPE_ERR_TRACER_* codes (core/errors.ts). */
export class TracerError extends AckscopeError {
  constructor(code: TracerErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
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

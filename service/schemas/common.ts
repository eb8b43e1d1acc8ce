import { Type, type Static } from 'typebox';
import { AckscopeError } from '../../core/errors.js';

/** Epoch nanoseconds are beyond 2^53: the API writes them as decimal strings. */
export const NsString = Type.String({ pattern: '^-?[0-9]+$', description: 'integer nanoseconds, as a decimal string' });
/** Accepted on input: a decimal string or a safe integer. */
export const NsInput = Type.Union([Type.String({ pattern: '^-?[0-9]+$' }), Type.Integer()], {
  description: 'integer nanoseconds: decimal string, or a number if below 2^53',
});

/** SQLite stores int64: a larger ns value (a pattern cannot say so) is refused here. */
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * An ns value of a request (decimal string, or a number) as a BigInt, or a 400
 * ACKSCOPE_ERR_VALIDATION naming `field` (e.g. `querystring.fromNs`). Bound to a SQLite
 * statement as it came, a value past int64 threw a RangeError: a 500.
 */
export function nsFromRequest(value: string | number, field: string): bigint {
  const ns = typeof value === 'string' ? BigInt(value) : Number.isSafeInteger(value) ? BigInt(value) : null;
  if (ns === null || ns > INT64_MAX || ns < INT64_MIN) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_VALIDATION',
      `${field}: ${value} is not integer nanoseconds within 64 bits (at most ${INT64_MAX}; send numbers past 2^53 as strings)`,
      { field },
    );
  }
  return ns;
}

export const ErrorReply = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  },
  { $id: 'ErrorReply', description: 'every error: a code from docs/errors.md and a message to act on' },
);
export type ErrorReplyT = Static<typeof ErrorReply>;

export const IdParams = Type.Object({ id: Type.Integer({ minimum: 1, description: 'session id' }) });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100 })),
  cursor: Type.Optional(Type.String({ description: 'nextCursor of the previous page' })),
};

/** Error replies every route may give, for the OpenAPI document. */
export const errorResponses = {
  400: Type.Ref('ErrorReply'),
  404: Type.Ref('ErrorReply'),
  409: Type.Ref('ErrorReply'),
  500: Type.Ref('ErrorReply'),
} as const;

import { Type, type Static } from 'typebox';

/** Epoch nanoseconds are beyond 2^53: the API writes them as decimal strings. */
export const NsString = Type.String({ pattern: '^-?[0-9]+$', description: 'integer nanoseconds, as a decimal string' });
/** Accepted on input: a decimal string or a safe integer. */
export const NsInput = Type.Union([Type.String({ pattern: '^-?[0-9]+$' }), Type.Integer()], {
  description: 'integer nanoseconds: decimal string, or a number if below 2^53',
});

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

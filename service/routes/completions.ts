import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { IncomingMessage } from 'node:http';
import { Type } from 'typebox';
import { AckscopeError, isAckscopeError } from '../../core/errors.js';
import { IdParams, errorResponses, nsFromRequest } from '../schemas/common.js';
import { Completion, CompletionIngestReply, CompletionListQuery, type CompletionT } from '../schemas/completion.js';
import { canonicalAddress, invalidRecord, nearSessionProblem, parseCompletion, type CompletionRow } from '../../core/completion.js';
import type { SessionTimeSpan } from '../../core/time.js';
import type { FastifyInstance } from 'fastify';
import { parseCompletionSpan, readCompletionElement } from '../../core/completion-line.js';
import { LineSplitter, LineTooLongError } from '../ndjson-lines.js';
import { JsonArraySplitter, JsonArrayShapeError } from '../json-array-elements.js';
import type { StoredCompletion } from '../../db/completions.js';
import type { CompletionUpload } from '../store/store.js';
import { requireStoredSession } from './sessions.js';

export const NDJSON = 'application/x-ndjson';
/** A single NDJSON line or array element longer than this is not a completion record. */
const MAX_LINE_CHARS = 1 << 20;

/** The two body forms, each read as it arrives. */
const NDJSON_BODY = (): BodyFormat => {
  const splitter = new LineSplitter(MAX_LINE_CHARS);
  return {
    push: (chunk, onSpan) => splitter.pushSpans(chunk, onSpan),
    end: (onSpan) => splitter.endSpans(onSpan),
    skip: (text, start, end) => end === start || (end - start < 8 && text.slice(start, end).trim() === ''),
    notJson: (index, message) => `line ${index + 1} is not JSON (${message})`,
    refusal: (err, index) =>
      err instanceof LineTooLongError ? invalidRecord(index, 'record', `line ${index + 1} is longer than ${MAX_LINE_CHARS} characters`) : err,
  };
};

const JSON_ARRAY_BODY = (): BodyFormat => {
  const splitter = new JsonArraySplitter(MAX_LINE_CHARS);
  return {
    push: (chunk, onSpan, readInPlace) => splitter.push(chunk, (element) => onSpan(element, 0, element.length), readInPlace),
    end: (onSpan) => splitter.end((element) => onSpan(element, 0, element.length)),
    skip: () => false,
    notJson: (index, message) => `element ${index} of the array is not JSON (${message})`,
    refusal: (err) => {
      if (!(err instanceof JsonArrayShapeError)) return err;
      if (err.index === null) {
        return new AckscopeError('ACKSCOPE_ERR_VALIDATION', `body: must be a JSON array of completion records (or NDJSON with content-type ${NDJSON}): ${err.message}`, {
          field: 'body',
        });
      }
      return invalidRecord(err.index, 'record', err.message);
    },
  };
};

/**
 * Reads an NDJSON body as it arrives, validating each line; the whole upload is capped
 * at `maxBytes` (413). Resolves with every record, or rejects at the first bad one (the
 * rest of the body is drained, not parsed, so the client still gets the reply).
 */
export async function readNdjsonCompletions(raw: IncomingMessage, maxBytes: number): Promise<CompletionRow[]> {
  const rows: CompletionRow[] = [];
  await readCompletionBody(raw, maxBytes, NDJSON_BODY(), { add: (row) => rows.push(row) });
  return rows;
}

/**
 * Reads a JSON-array body the same way: each element's text, found as the chunks arrive
 * (service/json-array-elements.ts), goes through the NDJSON line parser; same byte cap,
 * same per-record limit, same all-or-nothing. Errors name the element's index.
 */
export async function readJsonArrayCompletions(raw: IncomingMessage, maxBytes: number): Promise<CompletionRow[]> {
  const rows: CompletionRow[] = [];
  await readCompletionBody(raw, maxBytes, JSON_ARRAY_BODY(), { add: (row) => rows.push(row) });
  return rows;
}

/** A record's text: text[start, end) (a line read in place in its chunk's text). */
type OnSpan = (text: string, start: number, end: number) => void;

interface BodyFormat {
  /** `readInPlace`: reads a record at `start` of `text` where it stands, returning the position after it (a JSON array's separator) or -1. */
  push(chunk: Buffer, onSpan: OnSpan, readInPlace: (text: string, start: number) => number): void;
  end(onSpan: OnSpan): void;
  /** Texts that are no record (NDJSON's blank lines). */
  skip(text: string, start: number, end: number): boolean;
  notJson(index: number, message: string): string;
  /** The format's own errors as the API's (index: the record being read). */
  refusal(err: unknown, index: number): unknown;
}

/** Where the records of a body go, one at a time, as they are read. */
interface RowSink {
  /** `index`: the record's place in the body (what errors name). May throw to refuse it. */
  add(row: CompletionRow, index: number): void;
  /** The reading should wait (the sink's queue is full)... */
  readonly busy?: boolean;
  /** ...until this resolves. */
  room?(): Promise<void>;
}

/** Reads the body into `sink`; resolves with the number of records. */
function readCompletionBody(raw: IncomingMessage, maxBytes: number, format: BodyFormat, sink: RowSink): Promise<number> {
  return new Promise((resolve, reject) => {
    let records = 0;
    const addressCache = new Map<string, string>();
    let bytes = 0;
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      raw.removeListener('data', onData);
      raw.resume(); // drain and discard the rest
      reject(err);
    };

    const parseText = (text: string, start: number, end: number) => {
      if (format.skip(text, start, end)) return;
      const index = records;
      let row = parseCompletionSpan(text, start, end, index, addressCache);
      if (row === undefined) {
        let value: unknown;
        try {
          value = JSON.parse(text.slice(start, end));
        } catch (err) {
          throw invalidRecord(index, 'record', format.notJson(index, (err as Error).message));
        }
        row = parseCompletion(value, index, addressCache);
      }
      records++;
      sink.add(row, index);
    };
    /** A JSON array's element in the senders' form, read where it stands (core/completion-line.ts readCompletionElement). */
    const readInPlace = (text: string, start: number): number => {
      const index = records;
      const read = readCompletionElement(text, start, index, addressCache);
      if (read === undefined) return -1;
      records++;
      sink.add(read.row, index);
      return read.separator;
    };
    /** Runs a step of the splitter; a bad record fails the upload. */
    const parsing = (step: () => void): boolean => {
      try {
        step();
        return true;
      } catch (err) {
        fail(isAckscopeError(err) ? err : format.refusal(err, records));
        return false;
      }
    };

    function onData(chunk: Buffer) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        fail(tooLarge(maxBytes));
        return;
      }
      // parsed synchronously, before the next chunk arrives: memory stays bounded by the
      // records kept (or handed on), not by the upload.
      if (!parsing(() => format.push(chunk, parseText, readInPlace))) return;
      if (sink.busy && sink.room) {
        raw.pause();
        void sink.room().then(() => {
          if (!settled) raw.resume();
        });
      }
    }
    raw.on('data', onData);
    raw.on('end', () => {
      if (settled) return;
      if (!parsing(() => format.end(parseText))) return;
      settled = true;
      resolve(records);
    });
    raw.on('error', fail);
    raw.on('aborted', () => fail(new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'body: the client aborted the upload')));
  });
}

/**
 * Reads, checks and stores an upload: records go to the store's upload as the body
 * arrives (on SQLite packed in batches for the ingest worker, recording/completion-ingest.ts;
 * service/store/); the upload is stored once the body ended, all or nothing. The first record far from the session's
 * time span is refused after the whole body was read, so a malformed record anywhere
 * is reported first (as when the checks ran on the whole list).
 */
async function ingestBody(
  app: FastifyInstance,
  raw: IncomingMessage,
  format: BodyFormat,
  sessionId: number,
  span: SessionTimeSpan | null,
): Promise<{ received: number; stored: number; duplicates: number }> {
  const upload: CompletionUpload = app.store.openUpload(sessionId);
  let farFromSession: AckscopeError | null = null;
  try {
    const received = await readCompletionBody(raw, app.config.maxIngestBytes, format, {
      add(row, index) {
        if (span !== null && farFromSession === null) farFromSession = nearSessionProblem(row, index, span, FAR_ESCAPE);
        if (farFromSession !== null) return; // refused at the end: nothing more to store
        upload.add(row);
      },
      get busy() {
        return upload.busy;
      },
      room: () => upload.room(),
    });
    if (farFromSession) throw farFromSession;
    return { received, ...(await upload.commit()) };
  } finally {
    upload.discard(); // a no-op once committed
  }
}

const FAR_ESCAPE = 'post with ?allowFarFromCapture=true.';

function tooLarge(maxBytes: number): AckscopeError {
  return new AckscopeError(
    'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE',
    `completion upload is larger than ${maxBytes} bytes (ACKSCOPE_MAX_INGEST_BYTES): post it in several requests`,
    { maxBytes },
  );
}

export function completionToApi(row: StoredCompletion): CompletionT {
  const out: CompletionT = {
    id: row.id,
    flow: { srcAddr: row.srcAddr, srcPort: row.srcPort, dstAddr: row.dstAddr, dstPort: row.dstPort },
    writeId: row.writeId,
    offsetStart: row.offsetStart,
    offsetEnd: row.offsetEnd,
    submittedNs: row.submittedNs.toString(),
    completedNs: row.completedNs.toString(),
    bytesReported: row.bytesReported,
    api: row.api,
    buffers: row.buffers,
    status: row.status,
  };
  if (row.writeReturned !== null) out.writeReturned = row.writeReturned;
  if (row.immediate !== null) out.immediate = row.immediate;
  if (row.writableLength !== null) out.writableLength = row.writableLength;
  const tcp: Record<string, number> = {};
  if (row.tcpBytesSent !== null) tcp.bytesSent = row.tcpBytesSent;
  if (row.tcpBytesAcked !== null) tcp.bytesAcked = row.tcpBytesAcked;
  if (row.tcpNotsentBytes !== null) tcp.notsentBytes = row.tcpNotsentBytes;
  if (row.tcpUnacked !== null) tcp.unacked = row.tcpUnacked;
  if (row.tcpBytesRetrans !== null) tcp.bytesRetrans = row.tcpBytesRetrans;
  if (row.tcpRttUs !== null) tcp.rttUs = row.tcpRttUs;
  if (Object.keys(tcp).length > 0) out.tcpInfo = tcp;
  if (row.tcpInfoFrom !== null) out.tcpInfoFrom = row.tcpInfoFrom;
  if (row.extra !== null) out.extra = JSON.parse(row.extra) as Record<string, unknown>;
  return out;
}

export const completionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(Completion);
  // Both forms are parsed in the handler as they arrive (back-pressure, our own byte
  // cap): the JSON parser is replaced in this plugin's scope only.
  app.addContentTypeParser(NDJSON, (_req, _payload, done) => done(null));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', (_req, _payload, done) => done(null));

  app.post(
    '/sessions/:id/completions',
    {
      schema: {
        tags: ['completions'],
        summary: 'Report completions: a JSON array or NDJSON (application/x-ndjson), both read as they arrive',
        description:
          'Each record is one send call (docs/completions.md). All or nothing: one bad record (400 naming its index ' +
          'and field) or one conflicting duplicate (409 naming its index and writeId) stores nothing. Records are ' +
          'idempotent by (flow, writeId): posting the same record again stores it once. A record whose ' +
          'submittedNs or completedNs lies more than 52 days outside the session\'s time span (its capture; a live ' +
          'session\'s run; else the completions already stored) is refused with 400 naming the field and the span: a ' +
          'wrong clock. allowFarFromCapture=true skips that check, for a session that truly has no capture; the ' +
          'correlation then marks such a record unknown (time-out-of-range) and classifies the rest.',
        params: IdParams,
        querystring: Type.Object({
          allowFarFromCapture: Type.Optional(
            Type.Boolean({ description: "accept records far from the session's time span (a session with no capture)" }),
          ),
        }),
        response: { 200: CompletionIngestReply, ...errorResponses, 413: Type.Ref('ErrorReply'), 415: Type.Ref('ErrorReply') },
      },
    },
    async (req, reply) => {
      const sessionId = req.params.id;
      const session = await requireStoredSession(app.store, sessionId);
      const maxBytes = app.config.maxIngestBytes;
      const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();

      if (contentType !== NDJSON && contentType !== 'application/json') {
        throw new AckscopeError(
          'ACKSCOPE_ERR_UNSUPPORTED_MEDIA',
          `content-type ${contentType || '(none)'}: post application/json (an array) or ${NDJSON}`,
        );
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        reply.header('connection', 'close');
        throw tooLarge(maxBytes);
      }
      const span = req.query.allowFarFromCapture === true ? null : await app.store.sessionTimeSpan(session);
      let result: { received: number; stored: number; duplicates: number };
      try {
        result = await ingestBody(app, req.raw, contentType === NDJSON ? NDJSON_BODY() : JSON_ARRAY_BODY(), sessionId, span);
      } catch (err) {
        if (isAckscopeError(err) && err.code === 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE') reply.header('connection', 'close');
        throw err;
      }
      req.log.info({ sessionId, ...result }, 'completions stored');
      return result;
    },
  );

  app.delete(
    '/sessions/:id/completions/:completionId',
    {
      schema: {
        tags: ['completions'],
        summary: 'Remove one completion (e.g. one posted with a wrong clock); its id is in the list',
        params: Type.Object({
          id: Type.Integer({ minimum: 1, description: 'session id' }),
          completionId: Type.Integer({ minimum: 1, description: 'the completion\'s id (GET /sessions/:id/completions)' }),
        }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (req, reply) => {
      await requireStoredSession(app.store, req.params.id);
      if (!(await app.store.deleteCompletion(req.params.id, req.params.completionId))) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_NOT_FOUND',
          `session ${req.params.id} has no completion ${req.params.completionId}`,
          { completionId: req.params.completionId },
        );
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/sessions/:id/completions',
    {
      schema: {
        tags: ['completions'],
        summary: "A session's completions in the order they were posted; filter by flow, api, status, completion time",
        params: IdParams,
        querystring: CompletionListQuery,
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Completion')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const sessionId = req.params.id;
      await requireStoredSession(app.store, sessionId);
      const q = req.query;
      const limit = q.limit ?? 1000;
      let afterId = 0;
      if (q.cursor !== undefined) {
        afterId = Number(q.cursor);
        if (!Number.isSafeInteger(afterId) || afterId < 0) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'querystring.cursor: not a cursor this API returned', {
            field: 'querystring.cursor',
          });
        }
      }
      const rows = await app.store.listCompletions(
        sessionId,
        {
          srcAddr: q.srcAddr === undefined ? undefined : (canonicalAddress(q.srcAddr) ?? q.srcAddr),
          srcPort: q.srcPort,
          dstAddr: q.dstAddr === undefined ? undefined : (canonicalAddress(q.dstAddr) ?? q.dstAddr),
          dstPort: q.dstPort,
          api: q.api,
          status: q.status,
          fromNs: q.fromNs === undefined ? undefined : nsFromRequest(q.fromNs, 'querystring.fromNs'),
          toNs: q.toNs === undefined ? undefined : nsFromRequest(q.toNs, 'querystring.toNs'),
        },
        limit + 1,
        afterId,
      );
      const page = rows.slice(0, limit);
      return {
        items: page.map(completionToApi),
        nextCursor: rows.length > limit ? String(page[page.length - 1].id) : null,
      };
    },
  );
};

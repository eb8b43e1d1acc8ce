import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { AckscopeError } from '../core/errors.js';
import { errorFromReply, serviceUrl } from '../core/api-reply.js';

/**
 * `ackscope ingest FILE --session ID [--url URL]`: posts an NDJSON file of completion
 * records (docs/completions.md) to POST /sessions/:id/completions as one streamed
 * request — the path every sender that is not the built-in Node one uses (the C
 * senders in sender/c, a user's own program). The service stores the file all or
 * nothing, so a refused file can be fixed and posted again; re-posting the same
 * records is harmless (idempotent by flow and writeId).
 */
export interface IngestReply {
  received: number;
  stored: number;
  duplicates: number;
}

export interface IngestProgress {
  /** Called as bytes leave; `lines` counts newlines sent so far (≈ records). */
  onProgress?: (sentBytes: number, totalBytes: number, lines: number) => void;
  /** Post with ?allowFarFromCapture=true (docs/completions.md, the clock rule). */
  allowFarFromCapture?: boolean;
}

export function defaultServiceUrl(env: NodeJS.ProcessEnv = process.env): string {
  return serviceUrl(undefined, env);
}

/** The session id as given on the command line (pure). */
export function parseSessionId(text: string): number {
  const id = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(id) || id < 1) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--session must be a session id (a whole number ≥ 1), got "${text}"`, {
      field: 'session',
    });
  }
  return id;
}


/** Counts bytes and newlines as the file streams through, for the progress display. */
class CountingStream extends Transform {
  bytes = 0;
  lines = 0;
  constructor(private readonly report: (bytes: number, lines: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.lines++;
    this.report(this.bytes, this.lines);
    done(null, chunk);
  }
}

/** Streams `path` to the session; resolves with the service's reply. */
export async function ingestFile(
  path: string,
  sessionId: number,
  serviceUrl: string,
  progress: IngestProgress = {},
): Promise<IngestReply> {
  let totalBytes: number;
  try {
    totalBytes = statSync(path).size;
  } catch (err) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `cannot read ${path}: ${(err as Error).message}`, { field: 'file' });
  }
  const url = new URL(`sessions/${sessionId}/completions`, serviceUrl.endsWith('/') ? serviceUrl : `${serviceUrl}/`);
  if (progress.allowFarFromCapture) url.searchParams.set('allowFarFromCapture', 'true');
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

  const req = send(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', 'content-length': String(totalBytes) },
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  const counter = new CountingStream((bytes, lines) => progress.onProgress?.(bytes, totalBytes, lines));
  // The service may answer (400/409/413) before the whole body is sent; the reply is what matters then.
  const upload = pipeline(createReadStream(path), counter, req).catch(() => undefined);

  let res: IncomingMessage;
  try {
    res = await response;
  } catch (err) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_VALIDATION',
      `cannot reach the service at ${serviceUrl} (${(err as Error).message}); start it with \`ackscope serve\` or pass --url`,
      { field: 'url' },
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  if ((res.statusCode ?? 0) >= 300) {
    req.destroy(); // a refusal can come early: stop sending the rest of a large file
    await upload;
    throw errorFromReply(res.statusCode ?? 0, body);
  }
  await upload;
  return JSON.parse(body) as IngestReply;
}

/**
 * Progress on stderr: a bar on a terminal, a plain line every ~10% otherwise (logs, CI).
 * Returns the callback and a function that closes the display.
 */
function progressDisplay(stream: NodeJS.WriteStream): { onProgress: IngestProgress['onProgress']; stop: () => void } {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: 'ingest [{bar}] {percentage}% | {value}/{total} bytes | ~{lines} records', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress: (sent, total, lines) => {
        if (!started) bar.start(total, 0, { lines: 0 });
        started = true;
        bar.update(sent, { lines });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let nextTenth = 1;
  return {
    onProgress: (sent, total, lines) => {
      while (total > 0 && sent >= (total * nextTenth) / 10 && nextTenth <= 10) {
        stream.write(`ingest: ${Math.round((sent / total) * 100)}% sent (${sent}/${total} bytes, ~${lines} records)\n`);
        nextTenth++;
      }
    },
    stop: () => {},
  };
}

/** The command's action: posts the file, prints the reply as one JSON line on stdout. */
export async function runIngestCommand(
  file: string,
  options: { session: string; url?: string; allowFarFromCapture?: boolean },
): Promise<void> {
  const sessionId = parseSessionId(options.session);
  const display = progressDisplay(process.stderr);
  try {
    const reply = await ingestFile(file, sessionId, options.url ?? defaultServiceUrl(), {
      onProgress: display.onProgress,
      allowFarFromCapture: options.allowFarFromCapture === true,
    });
    display.stop();
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  } catch (err) {
    display.stop();
    throw err;
  }
}

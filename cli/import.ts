/**
 * `ackscope import FILE [--url URL] [--session ID | --name NAME]`: streams a pcap or
 * pcapng file to POST /sessions/:id/import (creating an import session unless --session
 * names one), with progress on stderr (a bar on a terminal, plain lines otherwise).
 */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { AckscopeError } from '../core/errors.js';
import { authHeaders, errorFromReply, serviceUrl } from '../core/api-reply.js';

export interface ImportCommandOptions {
  url?: string;
  session?: string;
  name?: string;
}



/** One HTTP request; `body` is a stream piped into it, or a JSON value. Resolves to the parsed reply. */
async function send(method: string, url: URL, body: NodeJS.ReadableStream | object | null, headers: Record<string, string | number> = {}): Promise<unknown> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...authHeaders(), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 400) reject(errorFromReply(res.statusCode ?? 500, text));
        else resolve(text ? JSON.parse(text) : null);
      });
      res.on('error', reject);
    });
    req.on('error', (err) =>
      reject(new AckscopeError('ACKSCOPE_ERR_INTERNAL', `cannot reach the service at ${url.origin}: ${err.message} (is \`ackscope serve\` running?)`)),
    );
    if (body === null) req.end();
    else if (typeof (body as NodeJS.ReadableStream).pipe === 'function') {
      // a server that refuses early answers before the upload ends: keep the reply, drop the pipe error
      pipeline(body as NodeJS.ReadableStream, req).catch(() => {});
    } else {
      req.setHeader('content-type', 'application/json');
      req.end(JSON.stringify(body));
    }
  });
}

class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    done(null, chunk);
  }
}

export async function runImportCommand(file: string, options: ImportCommandOptions): Promise<void> {
  const base = serviceUrl(options.url);
  if (options.session && options.name) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'give --session (an existing session) or --name (a new one), not both');
  }
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `cannot read ${file}: ${(err as Error).message}`);
  }
  let sessionId: number;
  if (options.session) {
    sessionId = Number(options.session);
    if (!Number.isSafeInteger(sessionId) || sessionId < 1) {
      throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--session must be a session id, got "${options.session}"`);
    }
  } else {
    const created = (await send('POST', new URL('/sessions', base), { name: options.name ?? basename(file), kind: 'import' })) as { id: number };
    sessionId = created.id;
    process.stderr.write(`created import session ${sessionId}\n`);
  }

  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: 'import {bar} {percentage}% | {value}/{total} bytes', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(size, 0);
  let nextLine = 0.1;
  const counter = new ByteCounter((n) => {
    bar?.update(n);
    if (!bar && size > 0 && n / size >= nextLine) {
      process.stderr.write(`import: ${Math.floor((n / size) * 100)}% (${n} of ${size} bytes)\n`);
      nextLine += 0.1;
    }
  });
  const url = new URL(`/sessions/${sessionId}/import`, base);
  url.searchParams.set('filename', basename(file));
  let reply: { session: { counts: { frames: number; tcp: number } }; import: { format: string; flows: number; duplicateCopies: number } };
  try {
    const body = createReadStream(file).pipe(counter);
    reply = (await send('POST', url, body, { 'content-type': 'application/octet-stream', 'content-length': size })) as typeof reply;
  } finally {
    bar?.stop();
  }
  const i = reply.import;
  const c = reply.session.counts;
  process.stdout.write(
    `session ${sessionId}: ${i.format}, ${c.frames} frames (${c.tcp} TCP) in ${i.flows} flows` +
      (i.duplicateCopies ? `, ${i.duplicateCopies} duplicate packet copies dropped` : '') +
      '\n',
  );
}

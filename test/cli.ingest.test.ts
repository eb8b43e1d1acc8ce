import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCSender } from '../sender/c/run.js';
import { runProcess } from '../sender/c/wine.js';
import type { CompletionInput } from '../core/completion.js';
import { testApp } from './helpers/app.js';
import { startTestReceiver } from './helpers/test-receiver.js';

/**
 * `ackscope ingest FILE --session ID --url URL` as a user runs it (a child process),
 * against the real service listening on a port, with a file a C sender wrote.
 */
const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
let ctx: Awaited<ReturnType<typeof testApp>>;
let url: string;
let file: string;
let records: CompletionInput[];

async function ackscope(...args: string[]) {
  return runProcess(process.execPath, ['--import', 'tsx', cli, ...args], { timeoutMs: 120_000 });
}

async function newSession(name: string): Promise<number> {
  const res = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { name, kind: 'import' } });
  assert.equal(res.statusCode, 201, res.body);
  return (res.json() as { id: number }).id;
}

before(async () => {
  ctx = await testApp();
  url = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  const receiver = await startTestReceiver();
  try {
    const run = await runCSender({
      kind: 'posix',
      target: `127.0.0.1:${receiver.port}`,
      count: 20_000,
      size: [100, 3000],
      mode: 'overlapped',
      buffers: 2,
      outPath: join(ctx.dir, 'records.ndjson'),
    });
    file = run.outPath;
    records = run.records;
  } finally {
    await receiver.close();
  }
});

after(async () => {
  await ctx?.close();
});

test('ingest streams the file to the session, reports progress on stderr and the reply on stdout', async () => {
  const id = await newSession('ingest');
  const r = await ackscope('ingest', file, '--session', String(id), '--url', url);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { received: records.length, stored: records.length, duplicates: 0 });
  // not a terminal: plain progress lines, the last at 100%
  assert.match(r.stderr, new RegExp(`ingest: 100% sent \\(\\d+/\\d+ bytes, ~${records.length} records\\)`));

  const stored: { writeId: number; offsetStart: number; offsetEnd: number; submittedNs: string; completedNs: string; bytesReported: number; api: string; buffers: number; flow: object }[] = [];
  let cursor: string | null = null;
  do {
    const page: { statusCode: number; body: string; json: () => unknown } = await ctx.app.inject({
      method: 'GET',
      url: `/sessions/${id}/completions?limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    });
    assert.equal(page.statusCode, 200, page.body);
    const body = page.json() as { items: typeof stored; nextCursor: string | null };
    stored.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor);
  assert.equal(stored.length, records.length);
  const byId = new Map(stored.map((s) => [s.writeId, s]));
  for (const r0 of records) {
    const s = byId.get(r0.writeId)!;
    assert.deepEqual(
      [s.offsetStart, s.offsetEnd, s.submittedNs, s.completedNs, s.bytesReported, s.api, s.buffers, s.flow],
      [r0.offsetStart, r0.offsetEnd, r0.submittedNs, r0.completedNs, r0.bytesReported, r0.api, r0.buffers, r0.flow],
    );
  }

  const again = await ackscope('ingest', file, '--session', String(id), '--url', url);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout), { received: records.length, stored: 0, duplicates: records.length });
});

test('ingest of a file with a bad record fails with the service code, naming the record, and stores nothing', async () => {
  const id = await newSession('bad');
  const lines = records.slice(0, 3).map((r) => JSON.stringify(r));
  lines[1] = JSON.stringify({ ...records[1], offsetEnd: records[1].offsetStart - 1 });
  const bad = join(ctx.dir, 'bad.ndjson');
  writeFileSync(bad, `${lines.join('\n')}\n`);
  const r = await ackscope('ingest', bad, '--session', String(id), '--url', url);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ACKSCOPE_ERR_COMPLETION_INVALID: record 1: offsetEnd/);
  const list = await ctx.app.inject({ method: 'GET', url: `/sessions/${id}/completions` });
  assert.equal((list.json() as { items: unknown[] }).items.length, 0);
});

test('ingest of a record far from the session\'s time is refused, and taken with --allow-far-from-capture', async () => {
  const id = await newSession('far');
  const near = join(ctx.dir, 'near.ndjson');
  writeFileSync(near, `${JSON.stringify(records[0])}\n`);
  assert.equal((await ackscope('ingest', near, '--session', String(id), '--url', url)).code, 0);
  const far = join(ctx.dir, 'far.ndjson');
  writeFileSync(far, `${JSON.stringify({ ...records[1], submittedNs: '1' })}\n`);
  const refused = await ackscope('ingest', far, '--session', String(id), '--url', url);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /ACKSCOPE_ERR_COMPLETION_INVALID: record 0: submittedNs: 1 is \d+ days before the session's time span/);
  const taken = await ackscope('ingest', far, '--session', String(id), '--url', url, '--allow-far-from-capture');
  assert.equal(taken.code, 0, taken.stderr);
  const list = await ctx.app.inject({ method: 'GET', url: `/sessions/${id}/completions` });
  assert.equal((list.json() as { items: unknown[] }).items.length, 2);
});

test('ingest names the problem: unknown session, bad session id, missing file, no service', async () => {
  const unknown = await ackscope('ingest', file, '--session', '999999', '--url', url);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /ACKSCOPE_ERR_SESSION_NOT_FOUND/);

  const badId = await ackscope('ingest', file, '--session', 'abc', '--url', url);
  assert.equal(badId.code, 1);
  assert.match(badId.stderr, /ACKSCOPE_ERR_VALIDATION: --session must be a session id/);

  const missing = await ackscope('ingest', join(ctx.dir, 'nope.ndjson'), '--session', '1', '--url', url);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*nope\.ndjson/);

  const receiver = await startTestReceiver();
  const closedPort = receiver.port;
  await receiver.close();
  const down = await ackscope('ingest', file, '--session', '1', '--url', `http://127.0.0.1:${closedPort}`);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the service at http:\/\/127\.0\.0\.1:\d+/);
});

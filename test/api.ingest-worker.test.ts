// POST /sessions/:id/completions with the ingest worker (recording/completion-ingest.ts,
// the default on a database file) and without it (ACKSCOPE_INGEST_WORKER=0: staged on the
// service's connection): the same replies and the same stored rows, and the upload's
// contract holds across the batches handed to the worker — all or nothing, a malformed
// record reported before one far from the session, a late conflict stores nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildApp, type App } from '../service/app.js';
import { tempDir } from './helpers/app.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

const DAY_NS = 86_400_000_000_000n;

function lines(count: number, flows: number, firstWrite = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const writeId = firstWrite + Math.floor(i / flows);
    out.push(
      JSON.stringify(
        completionRecord(
          { writeId, srcPort: 40000 + (i % flows), writeBytes: 512, submittedNs: BASE_NS + BigInt(i) * 1000n, takesNs: 700n },
          { writeReturned: 1, writableLength: 0, tcpInfo: { bytesSent: (writeId + 1) * 512, bytesAcked: writeId * 512, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 11 } },
        ),
      ),
    );
  }
  return out;
}

async function post(app: App, session: number, body: string[]) {
  const res = await app.inject({
    method: 'POST',
    url: `/sessions/${session}/completions`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: body.join('\n') + '\n',
  });
  return { status: res.statusCode, body: res.json() as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function allCompletions(app: App, session: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | null = null;
  do {
    const res = await app.inject({ url: `/sessions/${session}/completions?limit=10000${cursor ? `&cursor=${cursor}` : ''}` });
    const page = res.json() as { items: unknown[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

test('ingest worker and inline staging: same replies, same rows, the contract across batches', async () => {
  const t = tempDir();
  const apps = {
    worker: await buildApp({ dbPath: join(t.dir, 'worker.db'), logger: false }),
    inline: await buildApp({ dbPath: join(t.dir, 'inline.db'), logger: false, ingestInWorker: false }),
  };
  try {
    assert.equal(apps.worker.completionIngest.inWorker, true);
    assert.equal(apps.inline.completionIngest.inWorker, false);
    const replies: Record<string, unknown[]> = { worker: [], inline: [] };
    for (const [name, app] of Object.entries(apps)) {
      const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name, kind: 'import' } })).json().id as number;
      const r = replies[name];
      const body = lines(10_000, 37); // over two batches of 4096
      r.push(await post(app, session, body));
      r.push(await post(app, session, [...body.slice(9000), ...lines(500, 37, 400)])); // 1000 duplicates, 500 new

      // a malformed record after two batches went to the worker: nothing of the upload is stored
      const broken = lines(9000, 5, 5000);
      broken[8500] = broken[8500].replace('"writeId":', '"writeId":-');
      const refused = await post(app, session, broken);
      assert.equal(refused.status, 400, name);
      assert.equal(refused.body.error.details.index, 8500, name);
      r.push(refused);

      // far from the session (record 100) and malformed (record 8000): the malformed one is reported
      const far = lines(9000, 5, 7000);
      far[100] = far[100].replace(`"submittedNs":"${BASE_NS + 100_000n}"`, `"submittedNs":"${BASE_NS + 100_000n - 200n * DAY_NS}"`);
      assert.notEqual(far[100], lines(9000, 5, 7000)[100]);
      const both = [...far];
      both[8000] = '{"flow":';
      const malformedFirst = await post(app, session, both);
      assert.equal(malformedFirst.status, 400, name);
      assert.equal(malformedFirst.body.error.details.index, 8000, name);
      r.push(malformedFirst);
      const farOnly = await post(app, session, far);
      assert.equal(farOnly.status, 400, name);
      assert.deepEqual([farOnly.body.error.details.index, farOnly.body.error.details.field], [100, 'submittedNs'], name);
      r.push(farOnly);

      // a conflict with a stored record, late in a long upload: 409, nothing stored
      const late = lines(9000, 5, 9000);
      late[8999] = lines(1, 1)[0].replace(`"completedNs":"${BASE_NS + 700n}"`, `"completedNs":"${BASE_NS + 701n}"`); // stored with 700
      const conflict = await post(app, session, late);
      assert.equal(conflict.status, 409, name);
      assert.equal(conflict.body.error.details.index, 8999, name);
      r.push(conflict);

      r.push(await allCompletions(app, session));
    }
    assert.deepEqual(replies.worker[0], { status: 200, body: { received: 10_000, stored: 10_000, duplicates: 0 } });
    assert.deepEqual(replies.worker[1], { status: 200, body: { received: 1500, stored: 500, duplicates: 1000 } });
    assert.equal((replies.worker.at(-1) as unknown[]).length, 10_500, 'the refused uploads stored nothing');
    assert.deepEqual(replies.worker, replies.inline);
  } finally {
    await apps.worker.close();
    await apps.inline.close();
    t.cleanup();
  }
});

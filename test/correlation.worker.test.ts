import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import { testApp, tempDir } from './helpers/app.js';
import { SyntheticSession } from '../fixtures/flowbuilder.js';
import { buildApp, type App } from '../service/app.js';
import { correlateSession } from '../analysis/correlation.js';
import { summariseSession } from '../correlate/summary.js';
import { summaryToApi } from '../service/schemas/correlation.js';
import { EXPORT_BATCH_ROWS } from '../analysis/correlation-runner.js';
import { CorrelationDesk } from '../analysis/correlation-desk.js';
import { timelineCsvInMemory, timelineJsonInMemory, traceInMemory } from '../service/export-writers.js';
import type { Db } from '../db/connection.js';

/**
 * A session of several flows with every stage: per flow, a 1000-byte segment every
 * 10 µs and an ACK 5 µs later of everything but the last two segments, a retransmission
 * with a SACK now and then; writes of 1–3 segments completing between 20 µs before and
 * 40 µs after their last byte left; plus completions of a flow the capture never saw.
 */
function buildSession(db: Db, writesPerFlow: number, flows = 3): number {
  const s = new SyntheticSession(db, 'worker');
  db.transaction(() => {
    for (let k = 0; k < flows; k++) {
      const a: [string, number] = ['10.0.0.1', 40000 + k];
      const b: [string, number] = ['10.0.0.2', 7000];
      const f = s.flow({ a, b, firstUs: 0 });
      let off = 0;
      let us = 0;
      for (let w = 0; w < writesPerFlow; w++) {
        const segments = 1 + ((w * 7 + k) % 3);
        const start = off;
        let lastUs = us;
        for (let i = 0; i < segments; i++) {
          us += 10;
          f.segment(us, off, 1000);
          off += 1000;
          lastUs = us;
          if (w % 97 === 5 && i === 0) f.segment(us + 1, off - 1000, 1000); // a retransmission
          f.ack(us + 5, Math.max(0, off - 2000), w % 211 === 7 ? [[off - 1000, off]] : undefined);
        }
        const completedUs = lastUs + ((w * 13 + k * 5) % 60) - 20;
        s.completion({ src: a, dst: b, writeId: w, start, end: off, submittedUs: completedUs - 30, completedUs, api: w % 2 ? 'posix:send' : 'node:socket.write' });
      }
    }
    for (let w = 0; w < 20; w++) {
      s.completion({ src: ['10.9.9.9', 5555], dst: ['10.0.0.2', 7000], writeId: w, start: w * 100, end: w * 100 + 100, submittedUs: w * 3, completedUs: w * 3 + 2 });
    }
  })();
  s.finish();
  return s.id;
}

test('a cold summary computed in the worker equals the one computed inline, and concurrent askers share one run', async () => {
  const { app, close } = await testApp();
  try {
    assert.equal(app.correlations.inWorker, true, 'a file database is correlated in the worker');
    const id = buildSession(app.db, 400);
    // five requests at once, all cold: one correlation serves them all
    const replies = await Promise.all([
      app.inject({ url: `/sessions/${id}/summary` }),
      app.inject({ url: `/sessions/${id}/summary` }),
      app.inject({ url: `/sessions/${id}/correlations?limit=5&stage=wire` }),
      app.inject({ url: `/sessions/${id}/summary` }),
      app.inject({ url: `/sessions/${id}/export/timeline.csv` }),
    ]);
    for (const r of replies) assert.equal(r.statusCode, 200, r.body);
    assert.equal((await app.correlations.stats()).runs, 1);

    const inline = correlateSession(app.db, id);
    const expected = JSON.parse(JSON.stringify(summaryToApi(inline, summariseSession(inline.records, inline.flows, inline.ordering))));
    const fromWorker = replies[0].json();
    // the one field that may differ: how long each run took
    delete expected.correlation.elapsedMs;
    delete fromWorker.correlation.elapsedMs;
    assert.deepEqual(fromWorker, expected);
    assert.equal(fromWorker.overall.completions, 3 * 400 + 20);
    for (const stage of ['queued', 'partial-wire', 'wire', 'acked', 'unknown']) {
      assert.ok(fromWorker.overall.stages[stage].count > 0, `the session has ${stage} completions`);
    }
    assert.deepEqual(replies[1].json(), replies[0].json());
  } finally {
    await close();
  }
});

test('the inline path (ACKSCOPE_CORRELATION_WORKER=0) answers the same as the worker', async () => {
  const t = tempDir();
  const dbPath = join(t.dir, 'ackscope.db');
  const worker = await buildApp({ dbPath, logger: false });
  const inline = await buildApp({ dbPath, logger: false, correlationInWorker: false });
  try {
    assert.equal(inline.correlations.inWorker, false);
    const id = buildSession(worker.db, 200);
    for (const url of [`/sessions/${id}/correlations?limit=50&sort=ackedMinusComplete&order=desc`, `/sessions/${id}/export/trace.json`, `/ui/data/sessions/${id}/timeline?flow=2`]) {
      const a = await worker.inject({ url });
      const b = await inline.inject({ url });
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(a.body, b.body, url);
    }
    const missing = await worker.inject({ url: '/sessions/999/summary' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
  } finally {
    await inline.close();
    await worker.close();
    t.cleanup();
  }
});

/** Nice values of this process's threads, as the kernel reports them (/proc/self/task/TID/stat, field 19). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map(niceOf);
}
function niceOf(tid: string | number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // the fields after the command name in parentheses (which may hold spaces), from field 3 on
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('the worker thread runs at the nice value it is given (ACKSCOPE_CORRELATION_NICE), the service thread at its own', async () => {
  const t = tempDir();
  const before = threadNiceValues();
  const mainNice = niceOf(process.pid);
  assert.ok(!before.includes(7), `no thread at nice 7 yet: ${before}`);
  const app = await buildApp({ dbPath: join(t.dir, 'ackscope.db'), logger: false, correlationNice: 7 });
  try {
    await app.correlations.stats(); // the worker has started
    const after = threadNiceValues();
    assert.equal(after.filter((n) => n === 7).length, 1, `one thread at nice 7: ${after}`);
    assert.equal(niceOf(process.pid), mainNice, 'the main thread keeps its nice value');
  } finally {
    await app.close();
    t.cleanup();
  }
});

test('streamed exports of more rows than one batch are byte-identical to the in-memory versions', async () => {
  const { app, close } = await testApp();
  try {
    const id = buildSession(app.db, 800);
    const c = correlateSession(app.db, id);
    assert.ok(c.records.length > 2 * EXPORT_BATCH_ROWS, 'more rows than two batches');
    const cases: [string, string, string][] = [
      ['timeline.csv', timelineCsvInMemory(c), 'text/csv; charset=utf-8'],
      ['timeline.json', timelineJsonInMemory(c), 'application/json; charset=utf-8'],
      ['trace.json', traceInMemory(c), 'application/json; charset=utf-8'],
    ];
    for (const [name, expected, type] of cases) {
      const res = await app.inject({ url: `/sessions/${id}/export/${name}` });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-type'], type);
      assert.equal(res.headers['content-disposition'], `attachment; filename="ackscope-session-${id}-${name}"`);
      assert.equal(res.body.length, expected.length, name);
      assert.ok(res.body === expected, `${name} differs from the in-memory version`);
    }
    // the JSON ones still parse as the documents they were
    const timeline = JSON.parse(cases[1][1]) as { items: { completionId: number }[] };
    assert.equal(timeline.items.length, c.records.length);
    const trace = JSON.parse(cases[2][1]) as { traceEvents: unknown[] };
    assert.ok(trace.traceEvents.length > c.records.length);
    const missing = await app.inject({ url: '/sessions/999/export/timeline.csv' });
    assert.equal(missing.statusCode, 404);
  } finally {
    await close();
  }
});

/** Polls the worker until `ok` holds (at most `tries` times, 20 ms apart). */
async function until(app: App, ok: (s: { runs: number; openExports: number }) => boolean, tries = 250) {
  let s = await app.correlations.stats();
  for (let i = 0; i < tries && !ok(s); i++) {
    await sleep(20);
    s = await app.correlations.stats();
  }
  return s;
}

test('a client that disconnects mid-export frees the worker', async () => {
  const { app, close } = await testApp();
  try {
    // 40 k completions of a flow never captured: about 13 MB of CSV, far more than
    // the socket buffers hold, so the export is still running when the client leaves
    const s = new SyntheticSession(app.db, 'disconnect');
    app.db.transaction(() => {
      for (let w = 0; w < 40_000; w++) {
        s.completion({ src: ['10.0.0.1', 40000], dst: ['10.0.0.2', 7000], writeId: w, start: w * 10, end: w * 10 + 10, submittedUs: w, completedUs: w + 1 });
      }
    })();
    s.finish();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/sessions/${s.id}/export/timeline.csv` }, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', (chunk: Buffer) => {
          received += chunk.length;
          res.pause(); // read nothing more: the server's writes back up
          until(app, (st) => st.openExports === 1, 5)
            .then((st) => {
              assert.equal(st.openExports, 1, 'the export is open when the client leaves');
              req.destroy();
              resolve();
            })
            .catch(reject);
        });
      });
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
      req.end();
    });
    assert.ok(received > 0);
    const after = await until(app, (st) => st.openExports === 0);
    assert.equal(after.openExports, 0, 'the worker closed the export the client left');
    // and it still answers
    const res = await app.inject({ url: `/sessions/${s.id}/summary` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().overall.completions, 40_000);
  } finally {
    await close();
  }
});

test('the worker sees what the service writes after its first run (its own connection, the same WAL file)', async () => {
  const { app, close } = await testApp();
  try {
    const id = buildSession(app.db, 100, 1);
    const first = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.equal(first.overall.completions, 120);
    // more completions through the API, and more frames written by the service's connection
    const post = await app.inject({
      method: 'POST',
      url: `/sessions/${id}/completions`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: Array.from({ length: 5 }, (_, w) =>
        JSON.stringify({
          flow: { srcAddr: '10.7.7.7', srcPort: 1234, dstAddr: '10.0.0.2', dstPort: 7000 },
          writeId: w,
          offsetStart: w * 10,
          offsetEnd: w * 10 + 10,
          submittedNs: String(1_764_061_234_000_000_000n + BigInt(w) * 1000n),
          completedNs: String(1_764_061_234_000_000_000n + BigInt(w) * 1000n + 500n),
          bytesReported: 10,
          api: 'posix:send',
          buffers: 1,
          status: 'ok',
        }),
      ).join('\n'),
    });
    assert.equal(post.statusCode, 200, post.body);
    const second = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.equal(second.overall.completions, 125);
    assert.equal(second.apis.find((a: { api: string }) => a.api === 'posix:send').completions, 50 + 5);
    assert.equal((await app.correlations.stats()).runs, 2, 'the new completions made a new run; the first was not served again');
    // a deleted session's result is dropped and its id refused
    assert.equal((await app.inject({ method: 'DELETE', url: `/sessions/${id}` })).statusCode, 204);
    assert.equal((await app.inject({ url: `/sessions/${id}/summary` })).statusCode, 404);
  } finally {
    await close();
  }
});

test('past its record budget the desk drops the least recently asked correlation, never the one just asked for', async () => {
  const { app, close } = await testApp();
  try {
    const a = buildSession(app.db, 50, 1); // 70 records
    const b = buildSession(app.db, 50, 1);
    const desk = new CorrelationDesk(app.db, 100);
    const ask = (sessionId: number) => desk.answer({ id: 0, type: 'summary', sessionId });
    const runs = () => (desk.answer({ id: 0, type: 'stats' }) as { stats: { runs: number } }).stats.runs;
    ask(a);
    ask(a);
    assert.equal(runs(), 1, 'a second ask is served from the cache');
    ask(b); // 140 records held > 100: a goes
    ask(b);
    assert.equal(runs(), 2);
    ask(a);
    assert.equal(runs(), 3, 'a was dropped and correlated again');
    const roomy = new CorrelationDesk(app.db, 1000);
    roomy.answer({ id: 0, type: 'summary', sessionId: a });
    roomy.answer({ id: 0, type: 'summary', sessionId: b });
    roomy.answer({ id: 0, type: 'summary', sessionId: a });
    assert.equal((roomy.answer({ id: 0, type: 'stats' }) as { stats: { runs: number } }).stats.runs, 2, 'within the budget both stay');
  } finally {
    await close();
  }
});

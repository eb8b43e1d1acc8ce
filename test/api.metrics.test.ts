import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from './helpers/app.js';
import { requireLiveCapture } from './helpers/require.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

test('GET /metrics: request timings of every route and sessions by state', async () => {
  const t = await testApp();
  try {
    const created = await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'm', kind: 'import' } });
    assert.equal(created.statusCode, 201);
    await t.app.inject({ method: 'GET', url: '/sessions/999999' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/plain/);
    const body = res.body;
    assert.match(body, /ackscope_sessions\{state="created",kind="import"\} 1/);
    assert.match(body, /ackscope_http_request_duration_seconds_count\{method="POST",route="\/sessions",status="201"\} 1/);
    assert.match(body, /ackscope_http_request_duration_seconds_count\{method="GET",route="\/sessions\/:id",status="404"\} 1/);
    assert.match(body, /ackscope_process_process_cpu_seconds_total/);
    assert.doesNotMatch(body, /ackscope_correlation_worker_memory_bytes\{/, 'no correlation worker started yet');
  } finally {
    await t.close();
  }
});

test('GET /metrics: a running capture shows its worker thread memory and its queued batches; a stopped one does not', async () => {
  requireLiveCapture();
  const t = await testApp();
  try {
    const created = await t.app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'm', kind: 'live', interface: 'lo', filter: 'tcp port 9' },
    });
    assert.equal(created.statusCode, 201);
    const id = created.json().id as number;
    assert.equal((await t.app.inject({ method: 'POST', url: `/sessions/${id}/start` })).statusCode, 200);
    const scrape = async () => (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    // the worker posts a sample with its drop counters, every second
    let body = '';
    for (let i = 0; i < 200 && !body.includes('ackscope_capture_queued_batches{'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      body = await scrape();
    }
    const heapUsed = Number(new RegExp(`ackscope_capture_worker_memory_bytes\\{session="${id}",kind="heap_used"\\} (\\d+)`).exec(body)?.[1]);
    assert.ok(heapUsed > 0, body);
    assert.match(body, new RegExp(`ackscope_capture_worker_memory_bytes\\{session="${id}",kind="external"\\} \\d+`));
    assert.match(body, new RegExp(`ackscope_capture_queued_batches\\{session="${id}"\\} 0`), 'nothing on port 9: nothing queued');
    assert.equal((await t.app.inject({ method: 'POST', url: `/sessions/${id}/stop` })).statusCode, 200);
    body = await scrape();
    assert.doesNotMatch(body, /ackscope_capture_worker_memory_bytes\{/);
    assert.doesNotMatch(body, /ackscope_capture_queued_batches\{/);
  } finally {
    await t.close();
  }
});

test('GET /metrics: the correlation worker thread reports its memory with its answers', async () => {
  const t = await testApp();
  try {
    assert.equal(t.app.correlations.inWorker, true);
    const created = await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'm', kind: 'import' } });
    const summary = await t.app.inject({ method: 'GET', url: `/sessions/${created.json().id}/summary` });
    assert.equal(summary.statusCode, 200, summary.body);
    const body = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    const heapUsed = Number(/ackscope_correlation_worker_memory_bytes\{kind="heap_used"\} (\d+)/.exec(body)?.[1]);
    assert.ok(heapUsed > 0, body);
    assert.match(body, /ackscope_correlation_worker_memory_bytes\{kind="external"\} \d+/);
  } finally {
    await t.close();
  }
});

test('GET /metrics: the main thread at each scrape, and the ingest worker after an upload it stored', async () => {
  const t = await testApp();
  try {
    const series = (body: string, name: string, kind: string) => Number(new RegExp(`^${name}\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(body)?.[1]);
    let body = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const kind of ['heap_used', 'external', 'array_buffers']) assert.ok(series(body, 'ackscope_main_thread_memory_bytes', kind) > 0, body);
    assert.doesNotMatch(body, /ackscope_ingest_worker_memory_bytes\{/, 'no ingest worker started yet');

    assert.equal(t.app.completionIngest.inWorker, true);
    const id = (await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'm', kind: 'import' } })).json().id as number;
    // more than one batch (4096 records): stored by the worker, not on the service's thread
    const lines = Array.from({ length: 5000 }, (_, i) =>
      JSON.stringify(completionRecord({ writeId: i, srcPort: 40000, writeBytes: 100, submittedNs: BASE_NS + BigInt(i) * 1000n, takesNs: 500n })),
    );
    const posted = await t.app.inject({
      method: 'POST',
      url: `/sessions/${id}/completions`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: `${lines.join('\n')}\n`,
    });
    assert.equal(posted.statusCode, 200, posted.body);
    assert.equal(posted.json().stored, 5000);
    body = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.ok(series(body, 'ackscope_ingest_worker_memory_bytes', 'heap_used') > 0, body);
    assert.match(body, /^ackscope_ingest_worker_memory_bytes\{kind="array_buffers"\} \d+$/m);
  } finally {
    await t.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from './helpers/app.js';

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
  } finally {
    await t.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { storeMatrix } from './helpers/stores.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';
import { buildApp, type App } from '../service/app.js';
import { completionToApi } from '../service/routes/completions.js';
import { chooseStore } from '../clickhouse/store-url.js';
import { freePort, startClickHouse } from '../fixtures/clickhouse-server.js';
import { SQLITE_ONLY_ROUTES } from '../service/store/unsupported-routes.js';

/**
 * The service on either store answers the same: one capture (helpers/store-capture.ts:
 * losses with SACK blocks, retransmissions, reordering, write tags, GSO-sized segments,
 * a completion of an unseen connection) imported and its completions posted through
 * HTTP into each store, then every correlation, the summary and each export compared.
 * SQLite's correlation is the reference (its tests check it against tshark and the
 * synthetic flows' known answers); the ClickHouse store must not differ from it.
 */
const STORES = storeMatrix();

/** The records as a sender posts them: the API's form without the stored id. */
function ndjson(capture: StoreCapture): string {
  return capture.rows.map((row) => {
    const { id: _id, ...record } = completionToApi({ ...row, id: 0 });
    return JSON.stringify(record);
  }).join('\n') + '\n';
}

async function everyCorrelation(app: App, id: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | null = null;
  do {
    const res: Awaited<ReturnType<App["inject"]>> = await app.inject({ url: `/sessions/${id}/correlations?limit=500${cursor ? `&cursor=${cursor}` : ''}` });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { items: unknown[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

type Answers = { correlations: unknown[]; summary: unknown; exports: Record<string, string>; flows: unknown; frames: unknown };

/** Imports the capture and posts its completions through HTTP, then reads every answer the API gives about the session. */
async function serviceAnswers(app: App, capture: StoreCapture, store: string): Promise<Answers> {
  const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'both', kind: 'import' } })).json().id as number;
  const imported = await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from(capture.file) });
  assert.equal(imported.statusCode, 200, `${store}: ${imported.body}`);
  assert.equal(imported.json().import.frames, capture.frames);
  const posted = await app.inject({
    method: 'POST',
    url: `/sessions/${id}/completions`,
    headers: { 'content-type': 'application/x-ndjson' },
    payload: ndjson(capture),
  });
  assert.equal(posted.statusCode, 200, `${store}: ${posted.body}`);
  assert.deepEqual(posted.json(), { received: capture.completions, stored: capture.completions, duplicates: 0 });
  const summary = await app.inject({ url: `/sessions/${id}/summary` });
  assert.equal(summary.statusCode, 200, summary.body);
  const exports: Record<string, string> = {};
  for (const name of ['timeline.json', 'timeline.csv', 'trace.json']) {
    const res = await app.inject({ url: `/sessions/${id}/export/${name}` });
    assert.equal(res.statusCode, 200, `${store} ${name}: ${res.body.slice(0, 300)}`);
    exports[name] = res.body;
  }
  return {
    correlations: await everyCorrelation(app, id),
    summary: summary.json(),
    exports,
    flows: (await app.inject({ url: `/sessions/${id}/flows` })).json(),
    frames: (await app.inject({ url: `/sessions/${id}/frames?limit=10000` })).json(),
  };
}

function assertSameAnswers(ch: Answers, lite: Answers, completions: number): void {
  // the capture holds something to disagree about: several stages, every completion correlated
  assert.equal(lite.correlations.length, completions);
  const stages = new Set(lite.correlations.map((c) => (c as { stage: string }).stage));
  assert.ok(stages.size >= 3, `stages seen: ${[...stages].join(', ')}`);
  assert.deepEqual(ch.flows, lite.flows);
  assert.deepEqual(ch.frames, lite.frames);
  assert.deepEqual(ch.correlations, lite.correlations);
  // the run's own statistics (time taken, SQLite's index reads) differ by store; everything measured must not
  const withoutRunStats = (summary: unknown) => ({ ...(summary as Record<string, unknown>), correlation: null });
  assert.deepEqual(withoutRunStats(ch.summary), withoutRunStats(lite.summary));
  for (const name of Object.keys(lite.exports)) assert.equal(ch.exports[name], lite.exports[name], name);
}

test('both stores: import, post completions, then correlations, summary and exports agree record by record (ClickHouse in the worker and inline)', async () => {
  const t = tempDir();
  const capture = await buildStoreCapture(join(t.dir, 'reference.db'), 7);
  capture.db.close();
  const answers: Record<string, Answers> = {};
  try {
    for (const { store, testApp } of STORES) {
      const { app, close } = await testApp();
      try {
        answers[store] = await serviceAnswers(app, capture, store);
        // on either store the rules run in the correlation worker, off the service's thread
        assert.equal(app.correlations.inWorker, true, store);
        assert.ok(app.correlations.workerMemory !== null, `${store}: the worker answered`);
      } finally {
        await close();
      }
    }
    // and the ClickHouse worker answers as the same desk does on the service's thread
    const { app, close } = await STORES[1].testApp(undefined, { correlationInWorker: false });
    try {
      assert.equal(app.correlations.inWorker, false);
      answers.inline = await serviceAnswers(app, capture, 'clickhouse, inline');
    } finally {
      await close();
    }
  } finally {
    t.cleanup();
  }
  assertSameAnswers(answers.clickhouse, answers.sqlite, capture.completions);
  assertSameAnswers(answers.inline, answers.clickhouse, capture.completions);
});

test('a two-shard ClickHouse cluster behind Distributed tables answers as SQLite does', async () => {
  const t = tempDir();
  const cluster = await startClickHouse({ shards: 2 });
  try {
    const capture = await buildStoreCapture(join(t.dir, 'reference.db'), 11);
    capture.db.close();
    const lite = await STORES[0].testApp();
    const sharded = await buildApp({ dbPath: join(t.dir, 'unused.db'), logger: false, store: chooseStore(cluster.url('ackscope_sharded')) });
    try {
      assertSameAnswers(await serviceAnswers(sharded, capture, 'two shards'), await serviceAnswers(lite.app, capture, 'sqlite'), capture.completions);
      assert.equal((await sharded.inject({ method: 'DELETE', url: '/sessions/1' })).statusCode, 204);
      assert.equal((await sharded.inject({ url: '/sessions/1' })).statusCode, 404);
      assert.deepEqual((await sharded.inject({ url: '/sessions' })).json().items, []);
    } finally {
      await sharded.close();
      await lite.close();
    }
  } finally {
    await cluster.stop();
    t.cleanup();
  }
});

test('clickhouse store: every route is served (none is left SQLite-only); /metrics', async () => {
  const { app, close } = await STORES[1].testApp();
  try {
    const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'live', kind: 'live', interface: 'lo' } })).json().id;
    assert.deepEqual(SQLITE_ONLY_ROUTES, [], 'live capture, the tracer and the web page run on ClickHouse');
    for (const url of ['/', '/ui/main.js', '/ui/data/sessions', `/ui/data/sessions/${id}/live`, `/sessions/${id}/trace`]) {
      const res = await app.inject({ url });
      assert.notEqual(res.statusCode, 501, `${url}: ${res.body.slice(0, 200)}`);
    }
    // and what it serves still answers
    assert.equal((await app.inject({ url: `/sessions/${id}` })).statusCode, 200);
    const metrics = await app.inject({ url: '/metrics' });
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /ackscope_store_up\{store="clickhouse",host="127\.0\.0\.1:\d+"\} 1/);
    assert.match(metrics.body, /ackscope_sessions\{state="created",kind="live"\} 1/);
  } finally {
    await close();
  }
});

/** A TCP server that accepts and never answers: a hung ClickHouse. */
async function silentServer(): Promise<{ port: number; server: Server }> {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

test('clickhouse store unreachable or silent: the service starts, answers 503 ACKSCOPE_ERR_STORE_UNREACHABLE, never hangs', async () => {
  const t = tempDir();
  const silent = await silentServer();
  const closedPort = await freePort();
  try {
    for (const [what, port] of [['refused', closedPort], ['silent', silent.port]] as const) {
      const app = await buildApp({
        dbPath: join(t.dir, `${what}.db`),
        logger: false,
        store: chooseStore(`clickhouse://127.0.0.1:${port}/ackscope?timeout_ms=800&connect_timeout_ms=800`),
      });
      try {
        const health = await app.inject({ url: '/healthz' });
        assert.equal(health.statusCode, 503, `${what}: ${health.body}`);
        assert.equal(health.json().error.code, 'ACKSCOPE_ERR_STORE_UNREACHABLE');
        const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import' } });
        assert.equal(created.statusCode, 503, `${what}: ${created.body}`);
        assert.equal(created.json().error.code, 'ACKSCOPE_ERR_STORE_UNREACHABLE');
        assert.match(created.json().error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        const metrics = await app.inject({ url: '/metrics' });
        assert.equal(metrics.statusCode, 200);
        assert.match(metrics.body, new RegExp(`ackscope_store_up\\{store="clickhouse",host="127\\.0\\.0\\.1:${port}"\\} 0`));
      } finally {
        await app.close();
      }
    }
  } finally {
    silent.server.close();
    t.cleanup();
  }
});

test('many hosts, one session: two services on two ports write one session into a two-shard cluster, each row with its host; either answers for both', async () => {
  const t = tempDir();
  const cluster = await startClickHouse({ shards: 2 });
  // each host's own capture (other addresses), and SQLite's answer for it alone: the reference
  const captures = [await buildStoreCapture(join(t.dir, 'a.db'), 5, 1, 1), await buildStoreCapture(join(t.dir, 'b.db'), 6, 1, 2)];
  for (const c of captures) c.db.close();
  const alone: Answers[] = [];
  const services: { app: App; url: string }[] = [];
  try {
    for (const capture of captures) {
      const lite = await STORES[0].testApp();
      try {
        alone.push(await serviceAnswers(lite.app, capture, 'sqlite'));
      } finally {
        await lite.close();
      }
    }
    for (const host of ['host-a', 'host-b']) {
      const app = await buildApp({
        dbPath: join(t.dir, `${host}.db`),
        dataDir: join(t.dir, host),
        logger: false,
        store: chooseStore(cluster.url('ackscope_fleet')),
        storeHost: host,
      });
      services.push({ app, url: await app.listen({ host: '127.0.0.1', port: 0 }) });
    }
    const call = async (service: number, method: string, path: string, body?: Uint8Array | string, type = 'application/octet-stream') => {
      const res = await fetch(`${services[service].url}${path}`, { method, body: body as BodyInit | undefined, headers: body === undefined ? {} : { 'content-type': type } });
      return { status: res.status, text: await res.text() };
    };
    const created = await call(0, 'POST', '/sessions', JSON.stringify({ name: 'fleet', kind: 'import' }), 'application/json');
    assert.equal(created.status, 201, created.text);
    const id = JSON.parse(created.text).id as number;
    // each host imports its capture and posts its completions into the one session, A first
    for (const [host, capture] of captures.entries()) {
      const imported = await call(host, 'POST', `/sessions/${id}/import`, capture.file);
      assert.equal(imported.status, 200, imported.text);
      const posted = await call(host, 'POST', `/sessions/${id}/completions`, ndjson(capture), 'application/x-ndjson');
      assert.equal(posted.status, 200, posted.text);
      assert.equal(JSON.parse(posted.text).stored, capture.completions);
    }
    // a host's second file into the session is refused, as a second import is on SQLite
    assert.equal((await call(0, 'POST', `/sessions/${id}/import`, captures[0].file)).status, 409);

    const session = JSON.parse((await call(1, 'GET', `/sessions/${id}`)).text);
    assert.equal(session.state, 'stopped');
    assert.equal(session.counts.frames, captures[0].frames + captures[1].frames);
    // every frame and completion row carries the host that wrote it
    const client = (services[0].app.store as unknown as { client: import('../clickhouse/http-client.js').ClickHouseClient }).client;
    const { sql, identifier, literal } = await import('../clickhouse/sql.js');
    for (const table of ['frames', 'flows', 'completions'] as const) {
      const rows = await client.rows(sql`SELECT host, count() FROM ${identifier(table)} WHERE session_id = ${literal(id, 'UInt64')} GROUP BY host ORDER BY host`);
      assert.deepEqual(rows.map((r) => r[0]), ['host-a', 'host-b'], table);
    }

    // either service answers for both hosts: A's records as A's capture alone gives them,
    // B's with B's flow and completion ids after A's
    const flowsOfA = (alone[0].flows as { items: unknown[] }).items.length;
    const shifted = (alone[1].correlations as { completionId: number; flowId: number | null }[]).map((r) => ({
      ...r,
      completionId: r.completionId + captures[0].completions,
      flowId: r.flowId === null ? null : r.flowId + flowsOfA,
    }));
    const byId = (rows: unknown[]) => [...(rows as { completionId: number }[])].sort((x, y) => x.completionId - y.completionId);
    const expected = byId([...alone[0].correlations, ...shifted]);
    for (const service of [0, 1]) {
      const items: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page = JSON.parse((await call(service, 'GET', `/sessions/${id}/correlations?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).text);
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(byId(items), expected, `service ${service}`);
      const summary = JSON.parse((await call(service, 'GET', `/sessions/${id}/summary`)).text);
      assert.equal(summary.overall.completions, captures[0].completions + captures[1].completions);
      assert.equal(summary.capture.flows, flowsOfA + (alone[1].flows as { items: unknown[] }).items.length);
    }
  } finally {
    for (const s of services) await s.app.close();
    await cluster.stop();
    t.cleanup();
  }
});

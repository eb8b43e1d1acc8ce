import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { tempDir, testApp } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';
import { buildApp, type App } from '../service/app.js';
import { completionToApi } from '../service/routes/completions.js';
import { chooseStore } from '../clickhouse/store-url.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import { encodeRowBinary } from '../clickhouse/row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from '../clickhouse/sql.js';
import { startTcpdump } from './helpers/tcpdump.js';
import net from 'node:net';
import { once } from 'node:events';
import { TABLES } from '../clickhouse/tables.js';
import { insertSettings } from '../clickhouse/copy-session.js';

/**
 * Many hosts, one session, on a two-shard cluster with two services on two ports (two
 * "hosts"): a stage decided across hosts carries both hosts' claimed clock errors, and
 * ids are taken without collision when both services write at the same instant.
 */
let cluster: RunningClickHouse;
before(async () => {
  cluster = await startClickHouse({ shards: 2 });
});
after(async () => {
  await cluster?.stop();
});

/** The records as a sender posts them: the API's form without the stored id. */
function ndjson(rows: StoreCapture['rows']): string {
  return rows.map((row) => {
    const { id: _id, ...record } = completionToApi({ ...row, id: 0 });
    return JSON.stringify(record);
  }).join('\n') + '\n';
}

type Service = { app: App; url: string };
async function startServices(dir: string, database: string, hosts: string[]): Promise<Service[]> {
  const services: Service[] = [];
  for (const host of hosts) {
    const app = await buildApp({ dbPath: join(dir, `${host}.db`), dataDir: join(dir, host), logger: false, store: chooseStore(cluster.url(database)), storeHost: host });
    services.push({ app, url: await app.listen({ host: '127.0.0.1', port: 0 }) });
  }
  return services;
}

async function call(service: Service, method: string, path: string, body?: Uint8Array | string, type = 'application/json') {
  const res = await fetch(`${service.url}${path}`, { method, body: body as BodyInit | undefined, headers: body === undefined ? {} : { 'content-type': type } });
  return { status: res.status, text: await res.text() };
}

async function everyCorrelation(get: (path: string) => Promise<string>, id: number): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const page = JSON.parse(await get(`/sessions/${id}/correlations?limit=500${cursor ? `&cursor=${cursor}` : ''}`)) as { items: Record<string, unknown>[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items.sort((x, y) => (x.completionId as number) - (y.completionId as number));
}

test("host B's completions against host A's capture: crossHost on every matched record, uncertain exactly when the gap is under both hosts' claimed errors", async () => {
  const t = tempDir();
  const capture = await buildStoreCapture(join(t.dir, 'reference.db'), 9);
  capture.db.close();
  let services: Service[] = [];
  try {
    // the reference: the same capture and completions on one SQLite service (one host: nothing across hosts)
    const lite = await testApp();
    let reference: Record<string, unknown>[];
    try {
      const id = (await lite.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'one host', kind: 'import' } })).json().id as number;
      assert.equal((await lite.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from(capture.file) })).statusCode, 200);
      assert.equal((await lite.app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson(capture.rows) })).statusCode, 200);
      reference = await everyCorrelation(async (path) => (await lite.app.inject({ url: path })).body, id);
    } finally {
      await lite.close();
    }
    assert.equal(reference.length, capture.completions);
    assert.ok(reference.every((r) => r.crossHost === false && r.clockErrorNs === '0' && r.hosts === null && r.uncertain === false));

    services = await startServices(t.dir, 'ackscope_cross', ['host-a', 'host-b']);
    const [a, b] = services;
    const created = await call(a, 'POST', '/sessions', JSON.stringify({ name: 'across', kind: 'import' }));
    assert.equal(created.status, 201, created.text);
    const id = JSON.parse(created.text).id as number;
    // host A captured; host B's senders posted
    assert.equal((await call(a, 'POST', `/sessions/${id}/import`, capture.file, 'application/octet-stream')).status, 200);
    const posted = await call(b, 'POST', `/sessions/${id}/completions`, ndjson(capture.rows), 'application/x-ndjson');
    assert.equal(posted.status, 200, posted.text);

    const matched = (r: Record<string, unknown>) => r.flowId !== null;
    const expect = (errorNs: number): Record<string, unknown>[] =>
      reference.map((r) => {
        const gap = r.decidingGapNs === null ? null : Number(r.decidingGapNs);
        return {
          ...r,
          clockErrorNs: matched(r) ? String(errorNs) : '0',
          crossHost: matched(r),
          hosts: matched(r) ? { completion: 'host-b', capture: 'host-a' } : null,
          // the rule as the issue states it: a stage decided across hosts by less than the summed errors
          uncertain: matched(r) && gap !== null && gap < errorNs,
        };
      });
    const get = (service: Service) => async (path: string) => {
      const res = await call(service, 'GET', path);
      assert.equal(res.status, 200, res.text);
      return res.text;
    };

    // nothing stated: across hosts, but no error to add (the session states 0 too)
    assert.deepEqual(await everyCorrelation(get(a), id), expect(0));

    // the summed error lands on one of the gaps: that record is decided by exactly the error, not less, so it stays certain
    const gaps = reference.filter(matched).map((r) => r.decidingGapNs).filter((g) => g !== null).map(Number).sort((x, y) => x - y);
    const summed = gaps[Math.floor(gaps.length / 2)];
    assert.ok(summed > 0, `gaps ${gaps.join(',')}`);
    const errorA = Math.floor(summed / 3);
    assert.equal((await call(b, 'PUT', `/sessions/${id}/hosts/host-a`, JSON.stringify({ clockErrorNs: String(errorA) }))).status, 200);
    assert.equal((await call(a, 'PUT', `/sessions/${id}/hosts/host-b`, JSON.stringify({ clockErrorNs: summed - errorA }))).status, 200);
    const expected = expect(summed);
    const flagged = expected.filter((r) => r.uncertain).length;
    // the capture holds both sides of the line, and a gap right on it
    assert.ok(flagged > 0 && flagged < expected.filter(matched).length, `${flagged} uncertain of ${expected.length}`);
    assert.ok(expected.some((r) => r.uncertain === false && Number(r.decidingGapNs) === summed));
    for (const service of services) assert.deepEqual(await everyCorrelation(get(service), id), expected, service.url);

    const summary = JSON.parse(await get(b)(`/sessions/${id}/summary`));
    assert.equal(summary.overall.crossHost, expected.filter(matched).length);
    assert.equal(summary.overall.crossHostUncertain, flagged);
    assert.equal(summary.overall.uncertain, flagged);
    const csv = (await get(a)(`/sessions/${id}/export/timeline.csv`)).trim().split(/\r?\n/);
    assert.match(csv[0], /,tcpInfoAgrees,clockErrorNs,crossHost,completionHost,captureHost$/);
    const crossRows = csv.slice(1).filter((line) => line.endsWith(`,${summed},true,host-b,host-a`));
    assert.equal(crossRows.length, expected.filter(matched).length);
    const timeline = JSON.parse(await get(b)(`/sessions/${id}/export/timeline.json`)) as { items: { uncertain: boolean; crossHost: boolean }[] };
    assert.equal(timeline.items.filter((r) => r.uncertain).length, flagged);

    // the hosts as the session lists them: A's frames, B's completions, both errors
    const hosts = JSON.parse((await call(b, 'GET', `/sessions/${id}`)).text).hosts as { host: string; clockErrorNs: string; completions: number; frames: number }[];
    assert.deepEqual(hosts.map((h) => [h.host, h.clockErrorNs, h.frames > 0, h.completions]), [
      ['host-a', String(errorA), true, 0],
      ['host-b', String(summed - errorA), false, capture.completions],
    ]);
  } finally {
    for (const s of services) await s.app.close();
    t.cleanup();
  }
});

test('ids across hosts: two services creating sessions and posting into one session at the same instant take no id twice', async () => {
  const t = tempDir();
  const captures = [await buildStoreCapture(join(t.dir, 'a.db'), 21, 1, 1), await buildStoreCapture(join(t.dir, 'b.db'), 22, 1, 2)];
  for (const c of captures) c.db.close();
  let services: Service[] = [];
  try {
    services = await startServices(t.dir, 'ackscope_race', ['host-a', 'host-b']);
    // sessions: 24 creations at once, alternating the services
    const names = Array.from({ length: 24 }, (_, i) => `race-${i}`);
    const created = await Promise.all(names.map((name, i) => call(services[i % 2], 'POST', '/sessions', JSON.stringify({ name, kind: 'import' }))));
    for (const c of created) assert.equal(c.status, 201, c.text);
    const ids = created.map((c) => JSON.parse(c.text).id as number);
    assert.equal(new Set(ids).size, ids.length, `ids ${ids.join(',')}`);
    // each id names the session created under it (two writes of one id would read back one name for both)
    const listed = JSON.parse((await call(services[1], 'GET', '/sessions?limit=100')).text).items as { id: number; name: string }[];
    assert.deepEqual(
      listed.map((s) => [s.id, s.name]).sort((x, y) => (x[0] as number) - (y[0] as number)),
      ids.map((id, i) => [id, names[i]]).sort((x, y) => (x[0] as number) - (y[0] as number)),
    );

    // completions: each host posts its senders' records into one session in 6 uploads, all 12 at once
    const session = ids[0];
    const uploads = captures.flatMap((capture, host) => {
      const per = Math.ceil(capture.rows.length / 6);
      return Array.from({ length: 6 }, (_, k) => ({ host, body: ndjson(capture.rows.slice(k * per, (k + 1) * per)) }));
    });
    const posted = await Promise.all(
      uploads.map((u) => call(services[u.host], 'POST', `/sessions/${session}/completions?allowFarFromCapture=true`, u.body, 'application/x-ndjson')),
    );
    for (const p of posted) assert.equal(p.status, 200, p.text);
    const total = captures[0].completions + captures[1].completions;
    assert.equal(posted.reduce((n, p) => n + JSON.parse(p.text).stored, 0), total);
    const stored = JSON.parse((await call(services[0], 'GET', `/sessions/${session}/completions?limit=10000`)).text).items as { id: number; writeId: number; flow: { srcAddr: string; srcPort: number } }[];
    assert.equal(stored.length, total);
    assert.equal(new Set(stored.map((c) => c.id)).size, total, 'every completion its own id');
    // and every record once, as posted (an id taken twice would list one record under two ids or two under one)
    const keys = (rows: { srcAddr: string; srcPort: number; writeId: number }[]) => rows.map((r) => `${r.srcAddr}:${r.srcPort}/${r.writeId}`).sort();
    assert.deepEqual(keys(stored.map((c) => ({ srcAddr: c.flow.srcAddr, srcPort: c.flow.srcPort, writeId: c.writeId }))), keys([...captures[0].rows, ...captures[1].rows]));
    const hosts = JSON.parse((await call(services[1], 'GET', `/sessions/${session}/hosts`)).text).items as { host: string; completions: number }[];
    assert.deepEqual(hosts.map((h) => [h.host, h.completions]), [['host-a', captures[0].completions], ['host-b', captures[1].completions]]);
  } finally {
    for (const s of services) await s.app.close();
    t.cleanup();
  }
});

test('the same records posted to one session by two services at the same instant are stored once; records that differ: one upload stored, the other refused whole', async () => {
  const t = tempDir();
  const capture = await buildStoreCapture(join(t.dir, 'a.db'), 23, 1, 1);
  capture.db.close();
  let services: Service[] = [];
  try {
    services = await startServices(t.dir, 'ackscope_same_records', ['host-a', 'host-b']);
    const post = (service: Service, session: number, body: string) =>
      call(service, 'POST', `/sessions/${session}/completions?allowFarFromCapture=true`, body, 'application/x-ndjson');
    const newSession = async (name: string) => JSON.parse((await call(services[0], 'POST', '/sessions', JSON.stringify({ name, kind: 'import' }))).text).id as number;
    const listed = async (session: number) =>
      JSON.parse((await call(services[1], 'GET', `/sessions/${session}/completions?limit=10000`)).text).items as { writeId: number; api: string; flow: { srcPort: number } }[];
    const body = ndjson(capture.rows);
    const n = capture.completions;

    // three rounds, each a fresh session with the same upload posted 4 times at once from both services
    for (let round = 0; round < 3; round++) {
      const session = await newSession(`same-${round}`);
      const replies = await Promise.all([0, 1, 0, 1].map((k) => post(services[k], session, body)));
      for (const r of replies) assert.equal(r.status, 200, r.text);
      const results = replies.map((r) => JSON.parse(r.text) as { stored: number; duplicates: number });
      // as on SQLite: one upload stored them, the others found every record there already
      assert.deepEqual(results.map((r) => r.stored).sort((a, b) => b - a), [n, 0, 0, 0], JSON.stringify(results));
      assert.equal(results.reduce((d, r) => d + r.duplicates, 0), 3 * n);
      assert.equal((await listed(session)).length, n, `round ${round}: every record once`);
    }

    // the same keys with other content, at the same instant: one upload is stored whole, the other refused (409) whole
    const session = await newSession('differing');
    const other = ndjson(capture.rows.map((r) => ({ ...r, api: `${r.api}-other` })));
    const [first, second] = await Promise.all([post(services[0], session, body), post(services[1], session, other)]);
    assert.deepEqual([first.status, second.status].sort(), [200, 409], `${first.text} ${second.text}`);
    const winnerApi = (api: string) => (first.status === 200 ? api : `${api}-other`);
    const stored = await listed(session);
    assert.equal(stored.length, n);
    const byKey = new Map(capture.rows.map((r) => [`${r.srcPort}/${r.writeId}`, winnerApi(r.api)]));
    for (const c of stored) assert.equal(c.api, byKey.get(`${c.flow.srcPort}/${c.writeId}`), 'the stored records are the accepted upload\'s');
  } finally {
    for (const s of services) await s.app.close();
    t.cleanup();
  }
});

test('two services importing into one created session at the same instant: one import is taken, the other refused (409), its frames none of the session\'s', async () => {
  const t = tempDir();
  const captures = [await buildStoreCapture(join(t.dir, 'a.db'), 24, 1, 1), await buildStoreCapture(join(t.dir, 'b.db'), 25, 1, 2)];
  for (const c of captures) c.db.close();
  let services: Service[] = [];
  try {
    services = await startServices(t.dir, 'ackscope_import_race', ['host-a', 'host-b']);
    for (let round = 0; round < 3; round++) {
      const id = JSON.parse((await call(services[0], 'POST', '/sessions', JSON.stringify({ name: `race-${round}`, kind: 'import' }))).text).id as number;
      const replies = await Promise.all(services.map((s, k) => call(s, 'POST', `/sessions/${id}/import`, captures[k].file, 'application/octet-stream')));
      assert.deepEqual(replies.map((r) => r.status).sort(), [200, 409], replies.map((r) => r.text).join(' '));
      const taken = replies.findIndex((r) => r.status === 200);
      const session = JSON.parse((await call(services[1 - taken], 'GET', `/sessions/${id}`)).text);
      assert.equal(session.state, 'stopped');
      assert.equal(session.counts.frames, captures[taken].frames, `round ${round}: the taken import's frames, and only those`);
      const frames = await allItems(services[0], `/sessions/${id}/frames`);
      assert.equal(frames.length, captures[taken].frames);
      assert.equal(new Set(frames.map((f) => f.frameNo)).size, frames.length, 'every frame its own number');
    }
  } finally {
    for (const s of services) await s.app.close();
    t.cleanup();
  }
});

test('ids across hosts: a claim another service holds is skipped, and without a rival ids count from 1 as on SQLite', async () => {
  const t = tempDir();
  let services: Service[] = [];
  try {
    services = await startServices(t.dir, 'ackscope_claims', ['host-a']);
    const [a] = services;
    const first = await call(a, 'POST', '/sessions', JSON.stringify({ name: 'first', kind: 'import' }));
    assert.equal(JSON.parse(first.text).id, 1);
    // another host's claim on session ids 2-5, written as its service writes one (its session rows not yet written)
    const client = (a.app.store as unknown as { client: ClickHouseClient }).client;
    const columns = TABLES.id_claims.columns;
    await client.insert(
      sql`INSERT INTO ${qualifiedTable(client.config.database, 'id_claims')} (${joinSql(columns.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
      encodeRowBinary(columns, [[0, 2, 5, 'host-z', 12345n, 0n, '']]),
      { settings: insertSettings(client) },
    );
    const next = await call(a, 'POST', '/sessions', JSON.stringify({ name: 'after the claim', kind: 'import' }));
    assert.equal(JSON.parse(next.text).id, 6);
  } finally {
    for (const s of services) await s.app.close();
    t.cleanup();
  }
});

/** A TCP listener on 127.0.0.1 that reads everything it is sent; close() ends it. */
async function sinkServer(): Promise<{ port: number; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('end', () => socket.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `connections` connections to the port at once, each sending `writes` writes of 16 KiB, then closing. */
async function traffic(port: number, connections: number, writes: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, (_, c) =>
      new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', async () => {
          for (let i = 0; i < writes; i++) {
            if (!socket.write(Buffer.alloc(16384, (c + i) & 0xff))) await once(socket, 'drain');
            if (i % 8 === 7) await new Promise((r) => setTimeout(r, 2)); // spread over time, so both captures see traffic at once
          }
          socket.end();
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      }),
    ),
  );
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every item of a paged listing (flows, frames) from one service. */
async function allItems(service: Service, path: string): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  do {
    const res = await call(service, 'GET', `${path}${path.includes('?') ? '&' : '?'}limit=10000${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200, res.text);
    const page = JSON.parse(res.text) as { items: Json[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}

test('two hosts capture one live session at the same time, each its own filter: every frame tcpdump saw, per port and host, under distinct ids; stopped only when both stopped', async () => {
  assert.equal(process.getuid?.(), 0, 'live capture needs root');
  const t = tempDir();
  const sinks = [await sinkServer(), await sinkServer()];
  let services: Service[] = [];
  const witnesses: Awaited<ReturnType<typeof startTcpdump>>[] = [];
  try {
    services = await startServices(t.dir, 'ackscope_multilive', ['host-a', 'host-b']);
    const [a, b] = services;
    const filters = sinks.map((s) => `tcp port ${s.port}`);
    // the independent witness: one tcpdump per port, started before either capture
    for (const f of filters) witnesses.push(await startTcpdump('lo', f));

    const created = await call(a, 'POST', '/sessions', JSON.stringify({ name: 'two hosts live', kind: 'live', interface: 'lo', filter: filters[0] }));
    assert.equal(created.status, 201, created.text);
    const id = JSON.parse(created.text).id as number;
    // both hosts start at the same instant (host A the session's filter, host B its own); joining a
    // session another host captures already is crash.recovery.test.ts's start
    const [startA, startB] = await Promise.all([
      call(a, 'POST', `/sessions/${id}/start`),
      call(b, 'POST', `/sessions/${id}/start`, JSON.stringify({ filter: filters[1] })),
    ]);
    for (const started of [startA, startB]) {
      assert.equal(started.status, 200, started.text);
      assert.equal(JSON.parse(started.text).state, 'capturing');
    }
    // a host's second capture of the session is refused, with why
    for (const [service, host] of [[a, 'host-a'], [b, 'host-b']] as const) {
      const again = await call(service, 'POST', `/sessions/${id}/start`, JSON.stringify({ filter: 'tcp port 1' }));
      assert.equal(again.status, 409, again.text);
      assert.match(JSON.parse(again.text).error.message, new RegExp(`capturing on this host \\(${host}\\) already; a host captures a session once`));
    }
    // a filter libpcap cannot compile is refused before anything starts
    assert.equal((await call(b, 'POST', `/sessions/${id}/start`, JSON.stringify({ filter: 'tcp port' }))).status, 400);

    // traffic to both ports at the same time, while both hosts capture
    await Promise.all([traffic(sinks[0].port, 4, 96), traffic(sinks[1].port, 3, 128)]);
    await new Promise((r) => setTimeout(r, 500));
    const counted = [];
    for (const w of witnesses.splice(0)) counted.push(await w.stop());
    for (const c of counted) assert.equal(c.dropped, 0, 'tcpdump must see every packet');
    assert.ok(counted.every((c) => c.captured > 100), `tcpdump counted ${counted.map((c) => c.captured).join(', ')}`);

    // host A stops its capture: host B's still runs, so the session is capturing, as either service says
    const stopA = await call(a, 'POST', `/sessions/${id}/stop`);
    assert.equal(stopA.status, 200, stopA.text);
    assert.equal(JSON.parse(stopA.text).state, 'capturing');
    const meanwhile = JSON.parse((await call(b, 'GET', `/sessions/${id}`)).text);
    assert.equal(meanwhile.state, 'capturing');
    assert.deepEqual(meanwhile.hosts.map((h: Json) => [h.host, h.capture.state]), [['host-a', 'stopped'], ['host-b', 'capturing']]);
    const notMine = await call(a, 'POST', `/sessions/${id}/stop`);
    assert.equal(notMine.status, 409, notMine.text);
    assert.match(JSON.parse(notMine.text).error.message, /capturing on other hosts, not on this one \(host-a\)/);
    const stopB = await call(b, 'POST', `/sessions/${id}/stop`);
    assert.equal(stopB.status, 200, stopB.text);
    assert.equal(JSON.parse(stopB.text).state, 'stopped');

    const client = (a.app.store as unknown as { client: ClickHouseClient }).client;
    const [flowHosts] = [await client.rows(sql`SELECT DISTINCT flow_id, host FROM ${identifier('flows')} WHERE session_id = ${literal(id, 'UInt64')}`)];
    const hostOfFlow = new Map(flowHosts.map((r) => [Number(r[0]), r[1] as string]));
    for (const service of services) {
      const session = JSON.parse((await call(service, 'GET', `/sessions/${id}`)).text);
      assert.equal(session.state, 'stopped');
      assert.equal(session.failureReason, null);
      // the counters add up: every frame either filter matched
      assert.equal(session.counts.frames, counted[0].captured + counted[1].captured);
      assert.equal(session.counts.tcp, counted[0].captured + counted[1].captured);
      assert.equal(session.drops.dropped, 0);
      assert.deepEqual(
        session.hosts.map((h: Json) => [h.host, h.frames, h.capture]),
        [
          ['host-a', counted[0].captured, { state: 'stopped', failureReason: null, interface: 'lo', filter: filters[0] }],
          ['host-b', counted[1].captured, { state: 'stopped', failureReason: null, interface: 'lo', filter: filters[1] }],
        ],
      );

      const flows = await allItems(service, `/sessions/${id}/flows`);
      assert.equal(new Set(flows.map((f) => f.id)).size, flows.length, 'every flow its own id');
      assert.equal(flows.length, 7, 'each connection one flow');
      for (const [k, sink] of sinks.entries()) {
        const ofPort = flows.filter((f) => f.b.port === sink.port);
        assert.equal(ofPort.length, k === 0 ? 4 : 3);
        // each port's flows captured by the host whose filter names it, with tcpdump's frames
        assert.deepEqual([...new Set(ofPort.map((f) => hostOfFlow.get(f.id)))], [k === 0 ? 'host-a' : 'host-b']);
        assert.equal(ofPort.reduce((n, f) => n + f.frames, 0), counted[k].captured);
      }
      const frames = await allItems(service, `/sessions/${id}/frames`);
      assert.equal(frames.length, counted[0].captured + counted[1].captured);
      assert.equal(new Set(frames.map((f) => f.frameNo)).size, frames.length, 'every frame its own number');
      for (const f of flows) {
        const own = frames.filter((x) => x.flowId === f.id);
        assert.equal(own.length, f.frames, `flow ${f.id}'s frames`);
        // a flow's frames in capture order: by number as by time
        for (let i = 1; i < own.length; i++) assert.ok(BigInt(own[i].tsNs) >= BigInt(own[i - 1].tsNs), `flow ${f.id} frame ${own[i].frameNo}`);
      }
    }
    // the two captures ran at the same time: each one's frames span the other's
    const spans = await client.rows(
      sql`SELECT host, min(ts_ns), max(ts_ns) FROM ${identifier('frames')} WHERE session_id = ${literal(id, 'UInt64')} GROUP BY host ORDER BY host`,
    );
    assert.equal(spans.length, 2);
    assert.ok(BigInt(spans[0][1] as string) < BigInt(spans[1][2] as string) && BigInt(spans[1][1] as string) < BigInt(spans[0][2] as string), `overlapping captures: ${JSON.stringify(spans)}`);
    // the correlation answers over both hosts' frames (no completions: nothing to match, but it runs)
    assert.equal((await call(b, 'GET', `/sessions/${id}/summary`)).status, 200);
  } finally {
    for (const w of witnesses) await w.stop().catch(() => undefined);
    for (const s of services) await s.app.close();
    for (const s of sinks) await s.close();
    t.cleanup();
  }
});

test('a session deleted on one host while another captures it: that capture stops by itself, and no row or file of the session is left', async () => {
  assert.equal(process.getuid?.(), 0, 'live capture needs root');
  const t = tempDir();
  const sink = await sinkServer();
  let services: Service[] = [];
  let flowing = true;
  let sending: Promise<void> = Promise.resolve();
  try {
    services = await startServices(t.dir, 'ackscope_deleted_live', ['host-a', 'host-b']);
    const [a, b] = services;
    const client = (a.app.store as unknown as { client: ClickHouseClient }).client;
    const created = await call(a, 'POST', '/sessions', JSON.stringify({ name: 'deleted while captured', kind: 'live', interface: 'lo', filter: `tcp port ${sink.port}` }));
    assert.equal(created.status, 201, created.text);
    const id = JSON.parse(created.text).id as number;
    const rowsOf = async (table: string) =>
      Number((await client.rows(sql`SELECT count() FROM ${identifier(table)} WHERE session_id = ${literal(id, 'UInt64')}`))[0][0]);

    // host B captures; traffic goes on throughout, so B keeps writing frames after the delete
    assert.equal((await call(b, 'POST', `/sessions/${id}/start`)).status, 200);
    sending = (async () => {
      while (flowing) await traffic(sink.port, 1, 16);
    })();
    const until = async (what: string, ok: () => Promise<boolean>, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!(await ok())) {
        assert.ok(Date.now() < deadline, `within ${ms} ms: ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until("host B's frames stored", async () => (await rowsOf('frames')) > 0);

    const deleted = await call(a, 'DELETE', `/sessions/${id}`);
    assert.equal(deleted.status, 204, deleted.text);
    // B learns of it at its next write of its capture's row, and stops
    await until("host B's capture stopped", async () => !b.app.captures.runningSessions().includes(id));
    assert.equal((await call(b, 'GET', `/sessions/${id}`)).status, 404);
    // what B wrote after A's delete is gone too, and B's folder of the session
    await until("no row of the session left, nor host B's folder of it", async () => {
      if (existsSync(join(t.dir, 'host-b', 'sessions', String(id)))) return false;
      for (const table of ['frames', 'flows', 'sent_advances', 'ack_advances', 'live_captures']) if ((await rowsOf(table)) > 0) return false;
      return true;
    });
    // a new session's capture on B runs as before
    const next = JSON.parse((await call(a, 'POST', '/sessions', JSON.stringify({ name: 'next', kind: 'live', interface: 'lo', filter: `tcp port ${sink.port}` }))).text).id as number;
    assert.equal((await call(b, 'POST', `/sessions/${next}/start`)).status, 200);
    assert.equal(JSON.parse((await call(b, 'POST', `/sessions/${next}/stop`)).text).state, 'stopped');
  } finally {
    flowing = false;
    await sending.catch(() => undefined);
    for (const s of services) await s.app.close();
    await sink.close();
    t.cleanup();
  }
});

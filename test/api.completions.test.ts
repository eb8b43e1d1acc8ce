import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { testApp, tempDir } from './helpers/app.js';
import { buildApp, type App } from '../service/app.js';
import { canonicalAddress } from '../core/completion.js';
import { addressText } from '../capture/flow/tracker.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';
import { storeMatrix } from './helpers/stores.js';

/** Each test below runs on both stores (test/helpers/stores.ts). */
const STORES = storeMatrix();

/** A valid record: write i of a 1 KiB-per-write flow. */
function record(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return completionRecord({ writeId: i, srcPort: 40122, writeBytes: 1024, submittedNs: BASE_NS + BigInt(i) * 10_000n, takesNs: 4_000n }, over);
}

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

async function newSession(app: App): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'c', kind: 'import' } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id as number;
}

async function listAll(app: App, id: number, query = ''): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/sessions/${id}/completions?limit=10000${query}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { items: Record<string, unknown>[]; nextCursor: string | null };
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: JSON array and NDJSON are stored and listed with ns as strings, optional fields kept`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      const full = record(0, {
        writeReturned: 1,
        immediate: 'WSA_IO_PENDING',
        writableLength: 0,
        tcpInfo: { bytesSent: 1024, bytesAcked: 0, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 35 },
        extra: { note: 'first' },
        submittedNs: Number(1_000_000_000n), // a safe integer is accepted too
        completedNs: '1000000500',
      });
      const arr = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [full, record(1)] });
      assert.equal(arr.statusCode, 200, arr.body);
      assert.deepEqual(arr.json(), { received: 2, stored: 2, duplicates: 0 });

      const nd = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/completions`,
        headers: { 'content-type': 'application/x-ndjson' },
        payload: ndjson([record(2), record(3)]) + '\n\n', // blank lines are skipped
      });
      assert.equal(nd.statusCode, 200, nd.body);
      assert.deepEqual(nd.json(), { received: 2, stored: 2, duplicates: 0 });

      // offsets past 4 GiB and ns up to int64's maximum come back exact (far from the
      // session's other records: let in on purpose, as for a session without a capture)
      const big = record(4, {
        offsetStart: 5_000_000_000,
        offsetEnd: 5_000_001_024,
        submittedNs: '9223372036854775806',
        completedNs: '9223372036854775807',
      });
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [big] })).statusCode, 400);
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/completions?allowFarFromCapture=true`, payload: [big] })).statusCode, 200);

      const items = await listAll(app, id);
      assert.equal(items.length, 5);
      assert.deepEqual(
        [items[4].offsetStart, items[4].offsetEnd, items[4].submittedNs, items[4].completedNs],
        [5_000_000_000, 5_000_001_024, '9223372036854775806', '9223372036854775807'],
      );
      assert.deepEqual(items.map((c) => c.writeId), [0, 1, 2, 3, 4]);
      const first = items[0];
      assert.equal(first.submittedNs, '1000000000');
      assert.equal(first.completedNs, '1000000500');
      assert.equal(first.writeReturned, 1);
      assert.equal(first.immediate, 'WSA_IO_PENDING');
      assert.equal(first.writableLength, 0);
      assert.deepEqual(first.tcpInfo, { bytesSent: 1024, bytesAcked: 0, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 35 });
      assert.deepEqual(first.extra, { note: 'first' });
      assert.equal(items[1].submittedNs, String(BASE_NS + 10_000n));
      assert.equal(items[1].tcpInfo, undefined);
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: addresses are stored as the wire carries them (IPv4-mapped → IPv4, RFC 5952 IPv6)`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      const res = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/completions`,
        payload: [
          record(0, { flow: { srcAddr: '::FFFF:127.0.0.1', srcPort: 1, dstAddr: '::ffff:10.0.0.2', dstPort: 2 } }),
          record(0, { flow: { srcAddr: '2001:DB8:0:0:0:0:0:1', srcPort: 1, dstAddr: 'fe80::1%eth0', dstPort: 2 } }),
        ],
      });
      assert.equal(res.statusCode, 200, res.body);
      const items = await listAll(app, id);
      assert.deepEqual(items[0].flow, { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '10.0.0.2', dstPort: 2 });
      assert.deepEqual(items[1].flow, { srcAddr: '2001:db8::1', srcPort: 1, dstAddr: 'fe80::1', dstPort: 2 });
      // the filter takes the same spellings
      assert.equal((await listAll(app, id, '&srcAddr=::ffff:127.0.0.1')).length, 1);
    } finally {
      await close();
    }
  });
}

test('completions: an address is stored in the same text form the capture gives its flows', () => {
  // random IPv6 addresses with zero runs of every length and position, as 16 bytes
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xffff;
  for (let n = 0; n < 2000; n++) {
    const groups = Array.from({ length: 8 }, () => (rand() % 3 === 0 ? 0 : rand()));
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 255;
    });
    if (groups.slice(0, 6).every((g, i) => (i < 5 ? g === 0 : g === 0xffff))) continue; // IPv4-mapped: stored as IPv4
    const full = groups.map((g) => g.toString(16).toUpperCase().padStart(4, '0')).join(':');
    assert.equal(canonicalAddress(full), addressText(bytes), full);
  }
  assert.equal(canonicalAddress('192.168.0.1'), addressText(new Uint8Array([192, 168, 0, 1])));
  assert.equal(canonicalAddress('::ffff:192.168.0.1'), '192.168.0.1');
  assert.equal(canonicalAddress('01.2.3.4'), null);
  assert.equal(canonicalAddress('1.2.3'), null);
  assert.equal(canonicalAddress('fe80::1%eth0'), 'fe80::1');
});

/** [what to change in record 2 of 4, the field the 400 must name] */
const BAD_FIELDS: [Record<string, unknown> | 'not-an-object' | 'array', string][] = [
  ['not-an-object', 'record'],
  ['array', 'record'],
  [{ colour: 'red' }, 'colour'],
  [{ flow: undefined }, 'flow'],
  [{ flow: 'a->b' }, 'flow'],
  [{ flow: { srcAddr: '300.1.1.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2 } }, 'flow.srcAddr'],
  [{ flow: { srcAddr: 5, srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2 } }, 'flow.srcAddr'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 65536, dstAddr: '127.0.0.1', dstPort: 2 } }, 'flow.srcPort'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: -1, dstAddr: '127.0.0.1', dstPort: 2 } }, 'flow.srcPort'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1.5, dstAddr: '127.0.0.1', dstPort: 2 } }, 'flow.srcPort'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: 'localhost', dstPort: 2 } }, 'flow.dstAddr'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '::1::2', dstPort: 2 } }, 'flow.dstAddr'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: '80' } }, 'flow.dstPort'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '127.0.0.1' } }, 'flow.dstPort'],
  [{ flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2, proto: 'tcp' } }, 'flow.proto'],
  [{ writeId: -1 }, 'writeId'],
  [{ writeId: 1.5 }, 'writeId'],
  [{ writeId: '2' }, 'writeId'],
  [{ writeId: undefined }, 'writeId'],
  [{ offsetStart: -1 }, 'offsetStart'],
  [{ offsetStart: 2 ** 53 }, 'offsetStart'],
  [{ offsetEnd: 100 }, 'offsetEnd'], // below offsetStart 2048
  [{ offsetEnd: null }, 'offsetEnd'],
  [{ submittedNs: '12a' }, 'submittedNs'],
  [{ submittedNs: '-5' }, 'submittedNs'],
  [{ submittedNs: -5 }, 'submittedNs'],
  [{ submittedNs: 1.5 }, 'submittedNs'],
  [{ submittedNs: 2 ** 60 }, 'submittedNs'], // unsafe as a number: must be a string
  [{ submittedNs: '99999999999999999999' }, 'submittedNs'],
  [{ submittedNs: '9223372036854775808' }, 'submittedNs'], // int64 max + 1
  [{ submittedNs: null }, 'submittedNs'],
  [{ completedNs: undefined }, 'completedNs'],
  [{ completedNs: String(BASE_NS) }, 'completedNs'], // before submittedNs
  [{ bytesReported: 1025 }, 'bytesReported'],
  [{ bytesReported: -1 }, 'bytesReported'],
  [{ api: '' }, 'api'],
  [{ api: 5 }, 'api'],
  [{ api: undefined }, 'api'],
  [{ buffers: 0 }, 'buffers'],
  [{ buffers: 'two' }, 'buffers'],
  [{ status: '' }, 'status'],
  [{ status: 'x'.repeat(201) }, 'status'],
  [{ status: undefined }, 'status'],
  [{ writeReturned: 1.5 }, 'writeReturned'],
  [{ writeReturned: true }, 'writeReturned'],
  [{ immediate: 5 }, 'immediate'],
  [{ writableLength: -1 }, 'writableLength'],
  [{ tcpInfo: 'x' }, 'tcpInfo'],
  [{ tcpInfo: { bytesSent: -1 } }, 'tcpInfo.bytesSent'],
  [{ tcpInfo: { rttUs: 'fast' } }, 'tcpInfo.rttUs'],
  [{ tcpInfo: { cwnd: 10 } }, 'tcpInfo.cwnd'],
  [{ extra: [1, 2] }, 'extra'],
  [{ extra: 'note' }, 'extra'],
];

function badBatch(change: (typeof BAD_FIELDS)[number][0]): unknown[] {
  const batch: unknown[] = [record(0), record(1), record(2), record(3)];
  if (change === 'not-an-object') batch[2] = 42;
  else if (change === 'array') batch[2] = [record(2)];
  else {
    const r = record(2, change);
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete r[k];
    batch[2] = r;
  }
  return batch;
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: every field in a bad form is refused whole with 400 naming index 2 and the field`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      for (const [change, field] of BAD_FIELDS) {
        const batch = badBatch(change);
        for (const asNdjson of [false, true]) {
          const res = await app.inject({
            method: 'POST',
            url: `/sessions/${id}/completions`,
            ...(asNdjson
              ? { headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson(batch) }
              : { payload: batch as object[] }),
          });
          const label = `${JSON.stringify(change)} (${asNdjson ? 'NDJSON' : 'JSON'}) -> ${res.body}`;
          assert.equal(res.statusCode, 400, label);
          const err = res.json().error;
          assert.equal(err.code, 'ACKSCOPE_ERR_COMPLETION_INVALID', label);
          assert.equal(err.details.index, 2, label);
          assert.equal(err.details.field, field, label);
          assert.ok(err.message.startsWith(`record 2: ${field}: `), label);
        }
      }
      // all-or-nothing: records 0, 1 and 3 of those batches were valid and none is stored
      assert.equal((await listAll(app, id)).length, 0);

      const notJson = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/completions`,
        headers: { 'content-type': 'application/x-ndjson' },
        payload: `${JSON.stringify(record(0))}\n{"writeId": 1,\n`,
      });
      assert.equal(notJson.statusCode, 400);
      assert.equal(notJson.json().error.details.index, 1);
      assert.match(notJson.json().error.message, /line 2 is not JSON/);

      const notArray = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: record(0) });
      assert.equal(notArray.statusCode, 400);
      assert.equal(notArray.json().error.code, 'ACKSCOPE_ERR_VALIDATION');

      const text = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/completions`,
        headers: { 'content-type': 'text/plain' },
        payload: 'hello',
      });
      assert.equal(text.statusCode, 415);
      assert.equal(text.json().error.code, 'ACKSCOPE_ERR_UNSUPPORTED_MEDIA');

      const missing = await app.inject({ method: 'POST', url: '/sessions/9999/completions', payload: [record(0)] });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
      assert.equal((await app.inject({ url: '/sessions/9999/completions' })).statusCode, 404);
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: idempotent re-post stores once; a conflicting duplicate is a 409 naming it and stores nothing`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      const post = (payload: unknown[]) =>
        app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: payload as object[] });
      const batch = Array.from({ length: 120 }, (_, i) => record(i, { tcpInfo: { bytesSent: (i + 1) * 1024 } }));

      assert.deepEqual((await post(batch)).json(), { received: 120, stored: 120, duplicates: 0 });
      assert.deepEqual((await post(batch)).json(), { received: 120, stored: 0, duplicates: 120 });
      // overlapping batch: the known half is recognised, the new half stored
      const overlap = Array.from({ length: 120 }, (_, i) => record(60 + i, { tcpInfo: { bytesSent: (61 + i) * 1024 } }));
      assert.deepEqual((await post(overlap)).json(), { received: 120, stored: 60, duplicates: 60 });
      assert.equal((await listAll(app, id)).length, 180);

      // the same writeId of the same flow with other facts: 409, and the new record 500 is not stored
      const conflicting = [record(500), record(7, { offsetEnd: 9000, bytesReported: 10 })];
      const res = await post(conflicting);
      assert.equal(res.statusCode, 409, res.body);
      const err = res.json().error;
      assert.equal(err.code, 'ACKSCOPE_ERR_CONFLICT');
      assert.equal(err.details.index, 1);
      assert.equal(err.details.writeId, 7);
      assert.match(err.message, /record 1 \(writeId 7 of flow 127\.0\.0\.1:40122 → 127\.0\.0\.1:7000\)/);
      assert.equal((await listAll(app, id)).length, 180);

      // an optional field that differs is a conflict too (tcpInfo was stored for writeId 3)
      const noTcp = await post([record(3)]);
      assert.equal(noTcp.statusCode, 409);
      assert.equal(noTcp.json().error.details.field, 'tcpInfo.bytesSent');
      assert.match(noTcp.json().error.message, /tcpInfo\.bytesSent is absent here, 4096 stored/);

      // duplicates inside one request: identical → stored once; different → 409
      assert.deepEqual((await post([record(900), record(900)])).json(), { received: 2, stored: 1, duplicates: 1 });
      const inner = await post([record(901), record(902), record(901, { status: 'ECONNRESET' })]);
      assert.equal(inner.statusCode, 409);
      assert.equal(inner.json().error.details.index, 2);
      assert.equal((await listAll(app, id)).length, 181);

      // the same writeId on another flow is another record
      const otherFlow = record(0, { flow: { srcAddr: '127.0.0.1', srcPort: 40123, dstAddr: '127.0.0.1', dstPort: 7000 } });
      assert.deepEqual((await post([otherFlow])).json(), { received: 1, stored: 1, duplicates: 0 });
      // and in another session too
      const other = await newSession(app);
      const res2 = await app.inject({ method: 'POST', url: `/sessions/${other}/completions`, payload: [record(0)] });
      assert.deepEqual(res2.json(), { received: 1, stored: 1, duplicates: 0 });
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: list filters (flow, api, status, completion time) and cursor pages`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      const flowB = { srcAddr: '127.0.0.1', srcPort: 50000, dstAddr: '127.0.0.1', dstPort: 7001 };
      const records = [
        ...Array.from({ length: 30 }, (_, i) => record(i)),
        ...Array.from({ length: 20 }, (_, i) => record(i, { flow: flowB, api: 'posix:send', status: i % 5 === 0 ? 'EPIPE' : 'ok' })),
      ];
      const res = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: records });
      assert.equal(res.statusCode, 200, res.body);

      const pages: number[] = [];
      let cursor: string | null = null;
      const seen: number[] = [];
      do {
        const r = await app.inject({ url: `/sessions/${id}/completions?limit=7${cursor ? `&cursor=${cursor}` : ''}` });
        const body = r.json() as { items: { id: number }[]; nextCursor: string | null };
        pages.push(body.items.length);
        seen.push(...body.items.map((c) => c.id));
        cursor = body.nextCursor;
      } while (cursor);
      assert.equal(seen.length, 50);
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
      assert.equal(pages.length, 8);

      assert.equal((await listAll(app, id, '&srcPort=50000&dstPort=7001')).length, 20);
      assert.equal((await listAll(app, id, '&api=posix:send')).length, 20);
      assert.equal((await listAll(app, id, '&status=EPIPE')).length, 4);
      // completedNs of write i is BASE + i*10000 + 4000: [BASE+4000+50000, BASE+4000+100000) holds i = 5..9 per flow
      const from = BASE_NS + 54_000n;
      const to = BASE_NS + 104_000n;
      const timed = await listAll(app, id, `&fromNs=${from}&toNs=${to}`);
      assert.equal(timed.length, 10);
      for (const c of timed) assert.ok(BigInt(c.completedNs as string) >= from && BigInt(c.completedNs as string) < to);

      const badCursor = await app.inject({ url: `/sessions/${id}/completions?cursor=abc` });
      assert.equal(badCursor.statusCode, 400);
    } finally {
      await close();
    }
  });
}

test('completions: uploads over the byte cap are refused with 413 (JSON and NDJSON)', async () => {
  const t = tempDir();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false, maxIngestBytes: 4096 });
  try {
    const id = await newSession(app);
    const many = Array.from({ length: 40 }, (_, i) => record(i));
    const json = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: many });
    assert.equal(json.statusCode, 413, json.body);
    assert.equal(json.json().error.code, 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE');
    const nd = await app.inject({
      method: 'POST',
      url: `/sessions/${id}/completions`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: ndjson(many),
    });
    assert.equal(nd.statusCode, 413, nd.body);
    assert.equal(nd.json().error.code, 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE');
    assert.equal((await listAll(app, id)).length, 0);
    // under the cap is fine
    const few = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: many.slice(0, 3) });
    assert.equal(few.statusCode, 200, few.body);
  } finally {
    await app.close();
    t.cleanup();
  }
});

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: 100,000 records streamed as NDJSON over a real connection`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      const total = 100_000;
      const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        // chunked transfer, 1000 records a chunk, honouring back-pressure
        let next = 0;
        const pump = () => {
          while (next < total) {
            const chunk = ndjson(Array.from({ length: 1000 }, (_, k) => record(next + k)));
            next += 1000;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.equal(reply.status, 200, reply.body);
      assert.deepEqual(JSON.parse(reply.body), { received: total, stored: total, duplicates: 0 });
      const items = await listAll(app, id);
      assert.equal(items.length, total);
      items.forEach((c, i) => {
        assert.equal(c.writeId, i);
        assert.equal(c.offsetStart, i * 1024);
      });
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] completions: one is deleted by its id; the list and the correlation no longer hold it; an unknown id is 404`, async () => {
    const { app, close } = await testApp();
    try {
      const id = await newSession(app);
      const res = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [record(0), record(1), record(2)] });
      assert.equal(res.statusCode, 200, res.body);
      const listed = (await app.inject({ url: `/sessions/${id}/completions` })).json().items as { id: number; writeId: number }[];
      assert.deepEqual(listed.map((c) => c.writeId), [0, 1, 2]);
      const before = (await app.inject({ url: `/sessions/${id}/summary` })).json();
      assert.equal(before.overall.completions, 3);
      assert.equal((await app.inject({ method: 'DELETE', url: `/sessions/${id}/completions/${listed[1].id}` })).statusCode, 204);
      assert.deepEqual((await app.inject({ url: `/sessions/${id}/completions` })).json().items.map((c: { writeId: number }) => c.writeId), [0, 2]);
      assert.equal((await app.inject({ url: `/sessions/${id}/summary` })).json().overall.completions, 2, 'the cached correlation is not served again');
      const again = await app.inject({ method: 'DELETE', url: `/sessions/${id}/completions/${listed[1].id}` });
      assert.equal(again.statusCode, 404);
      assert.equal(again.json().error.code, 'ACKSCOPE_ERR_NOT_FOUND');
    } finally {
      await close();
    }
  });
}

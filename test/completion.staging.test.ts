// The ingest worker's store (db/completion-staging.ts, fed by core/completion-columns.ts)
// against the witness it replaces on the API path: storeCompletions, the store the CLI,
// the local destination and the tracer keep using. Same records into two sessions of
// real SQLite files: the same rows stored in the same order, the same counts, the same
// 409 — batches of every size, many flows, every optional field, duplicates and
// conflicts inside one upload and against earlier ones. Both ways of staging are held to
// it: packed (each batch one BLOB read by the SQLite extension packed_completions) and
// the temp table (parameters bound per row).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase, type Db } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { listCompletions, storeCompletions, type StoreResult } from '../db/completions.js';
import { CompletionStaging } from '../db/completion-staging.js';
import { CompletionPacker, INT_FIELDS, type PackedCompletions } from '../core/completion-columns.js';
import { parseCompletion, type CompletionRow } from '../core/completion.js';
import { tempDir } from './helpers/app.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

/** Records of `flows` flows, round robin; every 7th has all optional fields, every 11th has extra. */
function rows(count: number, flows: number, firstWrite = 0, over: Record<string, unknown> = {}): CompletionRow[] {
  const out: CompletionRow[] = [];
  for (let i = 0; i < count; i++) {
    const writeId = firstWrite + Math.floor(i / flows);
    const flow = i % flows;
    const extras: Record<string, unknown> =
      i % 7 === 0
        ? { writeReturned: 1, immediate: 'pending', writableLength: 10, tcpInfo: { bytesSent: 5, bytesAcked: 4 }, tcpInfoFrom: writeId }
        : { writableLength: 0, tcpInfo: { bytesSent: (writeId + 1) * 100, bytesAcked: writeId * 100, notsentBytes: 7, unacked: 2, bytesRetrans: 3, rttUs: 9 + i } };
    if (i % 11 === 0) extras.extra = { note: `row ${i}`, n: i };
    const record = completionRecord(
      { writeId, srcPort: 40000 + flow, writeBytes: 100, submittedNs: BASE_NS + BigInt(i) * 1000n, takesNs: 500n },
      { ...extras, ...over },
    );
    if (flow % 3 === 1) (record.flow as Record<string, unknown>).dstAddr = '::ffff:127.0.0.1'; // made canonical
    out.push(parseCompletion(record, i));
  }
  return out;
}

function staged(db: Db, sessionId: number, list: readonly CompletionRow[], batchRows: number, packed: boolean): StoreResult {
  const staging = new CompletionStaging(db, sessionId, { packed });
  assert.equal(staging.packed, packed, 'the path asked for (packed needs the extension built by scripts/build.sh)');
  const packer = new CompletionPacker(batchRows);
  for (const r of list) {
    const b = packer.add(r);
    if (b) staging.add(b);
  }
  const last = packer.end();
  if (last) staging.add(last);
  return staging.commit();
}

/** What a call gives: its result, or its error's code, message and details. */
function outcome(f: () => StoreResult): unknown {
  try {
    return f();
  } catch (err) {
    const e = err as { code?: string; message: string; details?: unknown };
    return { code: e.code, message: e.message, details: e.details };
  }
}

const stored = (db: Db, sessionId: number) => listCompletions(db, sessionId, {}, 1_000_000).map(({ id: _id, ...row }) => row);

test('a packed batch holds each row as it was (the written-out order follows INT_FIELDS)', () => {
  const list = rows(50, 5);
  const packer = new CompletionPacker(16);
  const batches: PackedCompletions[] = [];
  for (const r of list) {
    const b = packer.add(r);
    if (b) batches.push(b);
  }
  batches.push(packer.end()!);
  assert.deepEqual(batches.map((b) => [b.first, b.count]), [[0, 16], [16, 16], [32, 16], [48, 2]]);
  const flows: PackedCompletions['newFlows'] = [];
  const texts: string[] = [];
  for (const b of batches) {
    flows.push(...b.newFlows);
    texts.push(...b.newTexts);
    const extras = new Map(b.extras);
    for (let k = 0; k < b.count; k++) {
      const want = list[b.first + k];
      const f = flows[b.flow[k]];
      assert.deepEqual(f, { srcAddr: want.srcAddr, srcPort: want.srcPort, dstAddr: want.dstAddr, dstPort: want.dstPort });
      INT_FIELDS.forEach((field, c) => {
        const v = b.ints[k * INT_FIELDS.length + c];
        assert.equal(Number.isNaN(v) ? null : v, want[field], `row ${b.first + k} ${field}`);
      });
      assert.deepEqual([b.ns[2 * k], b.ns[2 * k + 1]], [want.submittedNs, want.completedNs]);
      const text = (n: number) => (n < 0 ? null : texts[n]);
      assert.deepEqual([text(b.texts[3 * k]), text(b.texts[3 * k + 1]), text(b.texts[3 * k + 2])], [want.api, want.status, want.immediate]);
      assert.equal(extras.get(k) ?? null, want.extra);
    }
  }
  assert.equal(flows.length, 5, 'each flow sent once');
});

for (const packed of [true, false]) test(`staged ${packed ? 'packed' : 'in the temp table'} and copied equals storeCompletions: rows, order, counts, duplicates and the 409`, () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    for (const batchRows of [1, 7, 4096]) {
      const viaStore = createSession(db, { name: 'store', kind: 'import' }).id;
      const viaStaging = createSession(db, { name: 'staging', kind: 'import' }).id;
      const both = (list: CompletionRow[]) => {
        const a = outcome(() => storeCompletions(db, viaStore, list));
        const b = outcome(() => staged(db, viaStaging, list, batchRows, packed));
        assert.deepEqual(b, a, `batches of ${batchRows}`);
        assert.deepEqual(stored(db, viaStaging), stored(db, viaStore), `batches of ${batchRows}: the stored rows`);
        return b;
      };
      const first = rows(3000, 120);
      assert.deepEqual(both(first), { stored: 3000, duplicates: 0 });
      // again, and overlapping: duplicates are counted, not stored
      assert.deepEqual(both(first.slice(1000, 1500)), { stored: 0, duplicates: 500 });
      assert.deepEqual(both([...first.slice(2900), ...rows(240, 120, 25)]), { stored: 240, duplicates: 100 });
      // duplicates inside one upload: identical once stored, different a 409 naming the later one
      const twice = rows(10, 2, 500);
      assert.deepEqual(both([...twice, ...twice]), { stored: 10, duplicates: 10 });
      const clash = rows(4, 2, 600);
      const differs = parseCompletion({ ...completionRecord({ writeId: 601, srcPort: 40001, writeBytes: 100, submittedNs: BASE_NS, takesNs: 9n }) }, 4);
      const refused = both([...clash, differs]) as { code: string; details: { index: number } };
      assert.equal(refused.code, 'ACKSCOPE_ERR_CONFLICT');
      assert.equal(refused.details.index, 4);
      // a conflict with an earlier upload, late in a long one: nothing of it is stored
      const late = rows(2000, 50, 700);
      late[1900] = parseCompletion(completionRecord({ writeId: 0, srcPort: 40000, writeBytes: 100, submittedNs: BASE_NS, takesNs: 1n }), 1900);
      const refusedLate = both(late) as { code: string; details: { index: number; field: string } };
      assert.equal(refusedLate.code, 'ACKSCOPE_ERR_CONFLICT');
      assert.deepEqual([refusedLate.details.index, refusedLate.details.field], [1900, 'completedNs']);
    }
    db.close();
  } finally {
    t.cleanup();
  }
});

for (const packed of [true, false]) test(`uploads staged ${packed ? 'packed' : 'in the temp table'} at the same time on one connection stay apart; a discarded one leaves nothing`, () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    const s1 = createSession(db, { name: 'one', kind: 'import' }).id;
    const s2 = createSession(db, { name: 'two', kind: 'import' }).id;
    const a = new CompletionStaging(db, s1, { packed });
    const b = new CompletionStaging(db, s2, { packed });
    const c = new CompletionStaging(db, s2, { packed });
    const pa = new CompletionPacker(100);
    const pb = new CompletionPacker(100);
    const pc = new CompletionPacker(100);
    const ra = rows(250, 3);
    const rb = rows(250, 4, 1000);
    for (let i = 0; i < 250; i++) {
      for (const [p, s, r] of [[pa, a, ra[i]], [pb, b, rb[i]], [pc, c, rb[i]]] as const) {
        const full = p.add(r);
        if (full) s.add(full);
      }
    }
    for (const [p, s] of [[pa, a], [pb, b], [pc, c]] as const) s.add(p.end()!);
    c.discard();
    assert.deepEqual(b.commit(), { stored: 250, duplicates: 0 });
    assert.deepEqual(a.commit(), { stored: 250, duplicates: 0 });
    assert.deepEqual(stored(db, s1), ra);
    assert.deepEqual(stored(db, s2), rb);
    assert.equal(db.prepare('SELECT count(*) FROM temp.completion_staging').pluck().get(), 0, 'nothing left staged');
    db.close();
  } finally {
    t.cleanup();
  }
});

test('packed_completions refuses a BLOB that does not hold what its arguments say, naming the problem', () => {
  const db = openDatabase(':memory:');
  new CompletionStaging(db, 1); // loads the extension on this connection
  const read = (packed: Buffer, strings: Buffer | null, count: number) => () =>
    db.prepare('SELECT * FROM packed_completions(0, ?, ?, NULL, ?)').all(packed, strings, count);
  assert.throws(read(Buffer.alloc(143), null, 0), /not a whole number of rows/);
  assert.throws(read(Buffer.alloc(144 * 2), null, 3), /count is more than packed holds/);
  const oneRow = Buffer.alloc(144 * 2); // texts of row 0 are 0, 0, 0: a string must exist
  assert.throws(read(oneRow, null, 1), /a text number names no string/);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(10);
  assert.throws(read(oneRow, Buffer.concat([len, Buffer.from('abc')]), 1), /runs past the end of strings/);
  assert.throws(() => db.prepare('SELECT * FROM packed_completions(0, ?)').all(oneRow), /five arguments/);
  db.close();
});

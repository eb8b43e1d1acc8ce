// A live capture correlated while it runs gives the same answer as after stop, for every
// completion whose evidence was already written (issue 16). Root, libpcap, `lo`: the
// service captures, the Node sender (sender/workload.ts) writes to a receiver and posts
// its completions as it goes; half way through, the correlations are read while frames
// are still being captured and written; after stop they are read again and compared
// completion by completion.
//
// "Already written" is decided from the two answers and the stored frames, not from the
// correlation's own notion of the capture's end:
// - The capture worker stores frames in stamp order (recording/live/reorder.ts holds a
//   frame until a frame 50 ms newer arrived) and commits them in batches, so what one
//   read transaction sees is a prefix of the frames by id. Any evidence time the first
//   read shows is a stored frame's stamp, so every frame stamped before the newest of
//   them (`cut`) was in that read's snapshot — unless a frame came later than the
//   window allowed (stored out of stamp order: `late`); the cut then drops to the
//   earliest late stamp, below which the prefix argument holds again.
// - Strictly before: a commit may split frames with equal stamps, so a frame stamped
//   exactly `cut` may have been written after the read.
// A completion all of whose evidence (first and last byte on the wire, the ACK, a SACK;
// as the after-stop answer gives it) lies before the cut must read the same in both
// answers, every field. One that completed before the cut must have the same stage even
// if some of its evidence came later: what the capture had not seen yet had to come
// after the cut, so after the completion. Completions whose evidence straddles the cut
// are left out, and the test prints how many.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { testApp } from './helpers/app.js';
import { startReceiver } from '../sender/receiver.js';
import { runWorkload } from '../sender/workload.js';
import { ServiceClient } from '../sender/service-client.js';
import { ServiceDestination } from '../sender/destinations.js';
import { nativeAvailable } from '../capture/native/index.js';
import { SESSION_FRAME_IDS_SQL } from '../core/frame-id.js';
import type { App } from '../service/app.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EVIDENCE = ['firstWireNs', 'lastWireNs', 'ackedNs', 'sackedNs'] as const;

/** Every correlation of the session in one answer (one computed correlation, one snapshot). */
async function allCorrelations(app: App, sessionId: number): Promise<Json[]> {
  const res = await app.inject({ url: `/sessions/${sessionId}/correlations?limit=10000&sort=completed` });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json() as { items: Json[]; nextCursor: string | null };
  assert.equal(body.nextCursor, null, 'one page holds them all');
  return body.items;
}

/** Stamps of the evidence an answer shows (each is a stored frame's stamp). */
const evidenceTimes = (r: Json): bigint[] => EVIDENCE.filter((k) => r[k] !== null).map((k) => BigInt(r[k]));

test('live loopback: correlated while capturing equals correlated after stop, for the frames already written', async () => {
  assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh)');
  assert.equal(process.getuid?.(), 0, 'live capture needs root');
  const { app, close } = await testApp();
  const receiver = await startReceiver({ port: 0, host: '127.0.0.1' });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const created = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'running', kind: 'live', interface: 'lo', filter: `tcp port ${receiver.port}` },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;
    const started = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
    assert.equal(started.statusCode, 200, started.body);

    // The correlation worker thread starts on first use (seconds under load): started
    // now, so the read half way through answers at once.
    assert.equal((await allCorrelations(app, id)).length, 0);

    // Paced so the capture runs for seconds. The sender makes records 4096 completions at
    // a time (sender/completion-block.ts BLOCK_ROWS), here posted a block per request.
    const count = 9000;
    const readAfter = 4096;
    const destination = new ServiceDestination(new ServiceClient(url, {}), id, readAfter);
    const sending = runWorkload({
      host: '127.0.0.1',
      port: receiver.port,
      count,
      sizes: [1024, 16384, 3000],
      mode: 'overlapped',
      window: 8,
      rate: 2500,
      destination,
      keepRecords: false,
    });
    // Right after the first block's post: its last completions are milliseconds old, so
    // the reorder window and the commit interval may still hold some of their frames.
    while (destination.posted < readAfter) await sleep(5);
    const readNs = process.hrtime.bigint();
    const running = await allCorrelations(app, id);
    const readMs = Number(process.hrtime.bigint() - readNs) / 1e6;
    const { summary } = await sending;
    assert.equal(summary.completed, count, JSON.stringify(summary));
    await destination.flush();
    const stopped = await app.inject({ method: 'POST', url: `/sessions/${id}/stop` });
    assert.equal(stopped.statusCode, 200, stopped.body);
    const after = await allCorrelations(app, id);

    const state = (await app.inject({ url: `/sessions/${id}/summary` })).json() as Json;
    assert.equal(state.capture.drops.dropped, 0, 'libpcap dropped nothing');
    assert.equal(after.length, count);
    assert.ok(running.length >= readAfter && running.length < count, `the first read saw ${running.length} of ${count}: mid-run`);
    // After stop every byte was seen leaving and acknowledged (the receiver read it all):
    // also what shows that the second answer is not the first one served from a cache.
    for (const r of after) {
      assert.ok(r.ackedNs !== null && r.lastWireNs !== null, `write ${r.writeId}: complete evidence after stop (${r.stage}, ${r.reason})`);
    }

    // Frames in id order: stamps that go back are late frames (beyond the reorder window).
    const frames = app.db
      .prepare(`SELECT ts_ns FROM frames WHERE ${SESSION_FRAME_IDS_SQL} ORDER BY id`)
      .pluck()
      .safeIntegers(true)
      .all({ session: id }) as bigint[];
    let newest = -1n;
    let earliestLate: bigint | null = null;
    let late = 0;
    for (const ts of frames) {
      if (ts < newest) {
        late++;
        if (earliestLate === null || ts < earliestLate) earliestLate = ts;
      } else newest = ts;
    }
    let cut = 0n;
    let lastCompleted = 0n;
    for (const r of running) if (BigInt(r.completedNs) > lastCompleted) lastCompleted = BigInt(r.completedNs);
    for (const r of running) for (const ts of evidenceTimes(r)) if (ts > cut) cut = ts;
    if (earliestLate !== null && earliestLate < cut) cut = earliestLate;
    assert.ok(cut > 0n, 'the first read already showed evidence');

    const afterById = new Map(after.map((r) => [r.completionId as number, r]));
    let same = 0;
    let sameStage = 0;
    let straddling = 0;
    for (const r of running) {
      const final = afterById.get(r.completionId);
      assert.ok(final, `completion ${r.completionId} is still there after stop`);
      if (evidenceTimes(final).every((ts) => ts < cut)) {
        assert.deepEqual(r, final, `write ${r.writeId}: all its evidence was written before the first read`);
        same++;
      } else if (BigInt(final.completedNs) < cut) {
        assert.equal(r.stage, final.stage, `write ${r.writeId}: completed before the first read's cut, same stage`);
        assert.equal(r.reason, final.reason, `write ${r.writeId}: same reason`);
        sameStage++;
      } else {
        straddling++;
      }
    }
    console.log(
      `# first read: ${running.length} of ${count} completions; ${same} with all evidence before the cut (identical), ` +
        `${sameStage} completed before it (same stage), ${straddling} after it; ${frames.length} frames, ${late} late; ` +
        `the cut ${Number(lastCompleted - cut) / 1e6} ms before the last completion read, the read took ${readMs.toFixed(1)} ms`,
    );
    assert.ok(same >= 100, `enough completions were evidenced at the first read to compare (${same})`);
  } finally {
    await receiver.close();
    await close();
  }
});

/**
 * A capture that sees nothing new leaves its session row alone, so the correlation cache
 * (keyed by a fingerprint that includes updated_ns) stays valid while the capture runs:
 * the worker committed counters every 100 ms and libpcap's counters every second,
 * bumping updated_ns each time even when nothing had changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../db/connection.js';
import { createSession, getSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { getCorrelation } from '../analysis/correlation.js';
import { testApp, tempDir } from './helpers/app.js';
import { ipv4Tcp } from './helpers/packets.js';

test('a frame writer flush with nothing new does not touch the session row', async () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'idle', kind: 'live', interface: 'lo' });
    const writer = new FrameWriter(db, session.id);
    const syn = ipv4Tcp({ seq: 1, flags: 'S' });
    writer.addFrame(101, 1_764_000_000_000_000_000n, syn.length, syn.length, syn);
    writer.flush();
    const after = getSession(db, session.id)!;
    assert.equal(after.frames_total, 1);
    await sleep(5); // updated_ns has millisecond resolution
    writer.flush();
    writer.flush();
    assert.equal(getSession(db, session.id)!.updated_ns, after.updated_ns);
  } finally {
    db.close();
    t.cleanup();
  }
});

test('an idle live capture keeps its session row, and the correlation cache, unchanged', async () => {
  const t = await testApp();
  try {
    const app = t.app;
    // a filter nothing matches: the capture runs and sees no frame
    const created = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'idle', kind: 'live', interface: 'lo', filter: 'tcp and src host 192.0.2.77 and src port 1 and dst port 2' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;
    const started = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
    assert.equal(started.statusCode, 200, started.body);
    // the first libpcap counters land within a second
    for (let i = 0; i < 100 && getSession(app.db, id)!.pcap_received === null; i++) await sleep(50);
    assert.notEqual(getSession(app.db, id)!.pcap_received, null, 'the worker recorded libpcap counters');
    const before = getSession(app.db, id)!;
    const first = getCorrelation(app.db, id);
    await sleep(2500); // two dozen flushes and two statistics rounds
    const now = getSession(app.db, id)!;
    assert.equal(now.updated_ns, before.updated_ns, 'nothing changed, so the row was not rewritten');
    assert.equal(getCorrelation(app.db, id), first, 'the cached correlation is still valid');
    assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/stop` })).statusCode, 200);
  } finally {
    await t.close();
  }
});

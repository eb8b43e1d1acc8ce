// Retention through the store, on either store (SQLite and a real ClickHouse server): the
// sessions past ACKSCOPE_RETENTION_DAYS go with their rows and files, then over
// ACKSCOPE_MAX_DB_BYTES the least recently changed ones, never a running capture (a real
// one, on lo). Witnesses: the API (404, frame listings) and the session folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { runRetention } from '../service/retention.js';
import { wallClockNs } from '../core/time.js';
import { syntheticCapture } from '../fixtures/synthetic-capture.js';
import type { App } from '../service/app.js';
import { storeMatrix } from './helpers/stores.js';

const DAY_NS = 86_400_000_000_000n;

async function importedSession(app: App, name: string, frames: number): Promise<number> {
  const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name, kind: 'import' } })).json().id as number;
  const res = await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from(syntheticCapture({ frames, flows: 2 }).file) });
  assert.equal(res.statusCode, 200, res.body);
  return id;
}

const framesOf = async (app: App, id: number) => (await app.inject({ url: `/sessions/${id}/frames?limit=10000` })).json().items?.length as number | undefined;

for (const { store, testApp } of storeMatrix()) {
  test(`[${store}] retention: past the age the session goes with its rows and folder, a later one stays, a running capture is never touched; then by size all but the running one`, async () => {
    const { app, close } = await testApp();
    const sink = net.createServer((s) => s.resume()).listen(0, '127.0.0.1');
    await once(sink, 'listening');
    try {
      const old = await importedSession(app, 'old', 2000);
      const live = (await app.inject({
        method: 'POST',
        url: '/sessions',
        payload: { name: 'running', kind: 'live', interface: 'lo', filter: `tcp port ${(sink.address() as net.AddressInfo).port}` },
      })).json().id as number;
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${live}/start` })).statusCode, 200);
      await new Promise((r) => setTimeout(r, 50));
      const cutoff = wallClockNs(); // old and live changed before it, recent after
      await new Promise((r) => setTimeout(r, 50));
      const recent = await importedSession(app, 'recent', 1000);
      assert.equal(await framesOf(app, old), 2000);
      assert.ok(existsSync(app.sessionDir(old)));

      const deps = { store: app.store.retention(), sessionDir: (id: number) => app.sessionDir(id), log: app.log };
      // "now" one day after the cutoff, with a one-day limit: exactly what changed before it is past
      const byAge = await runRetention(deps, { retentionDays: 1, maxDbBytes: null }, cutoff + DAY_NS);
      assert.deepEqual(byAge.deleted, [{ id: old, reason: 'age' }]);
      assert.equal((await app.inject({ url: `/sessions/${old}` })).statusCode, 404);
      assert.equal((await app.inject({ url: `/sessions/${old}/frames` })).statusCode, 404);
      assert.ok(!existsSync(app.sessionDir(old)), 'its folder is gone');
      assert.equal(await framesOf(app, recent), 1000, 'the recent session is whole');
      assert.equal((await app.inject({ url: `/sessions/${live}` })).json().state, 'capturing', 'the running capture is untouched');

      // a limit nothing fits in: everything but the running capture goes
      const bySize = await runRetention(deps, { retentionDays: null, maxDbBytes: 1 });
      assert.deepEqual(bySize.deleted, [{ id: recent, reason: 'size' }]);
      assert.equal((await app.inject({ url: `/sessions/${recent}` })).statusCode, 404);
      assert.ok(bySize.keptBytes! > 1, 'still over: only the running capture (and what the store keeps of itself) is left');
      const still = (await app.inject({ url: `/sessions/${live}` })).json();
      assert.equal(still.state, 'capturing');
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${live}/stop` })).json().state, 'stopped');
    } finally {
      sink.close();
      await close();
    }
  });
}

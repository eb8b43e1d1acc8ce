import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { storeMatrix } from './helpers/stores.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture } from './helpers/store-capture.js';
import { completionToApi } from '../service/routes/completions.js';
import { buildApp } from '../service/app.js';

/** Each test below runs on both stores (test/helpers/stores.ts); the ClickHouse leg's service is `test-host`. */
const STORES = storeMatrix();

for (const { store, testApp } of STORES) {
  test(`[${store}] hosts: a host's clock error is stated, replaced, listed with the session; refusals name the field`, async () => {
    const { app, close } = await testApp(undefined, { storeHost: 'test-host' });
    try {
      const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'fleet', kind: 'import' } })).json().id as number;
      const fresh = (await app.inject({ url: `/sessions/${id}` })).json();
      assert.deepEqual(fresh.hosts, [], 'nothing stated, captured or posted: no host');

      const put = (host: string, clockErrorNs: unknown, session = id) =>
        app.inject({ method: 'PUT', url: `/sessions/${session}/hosts/${host}`, payload: { clockErrorNs } });
      const a = await put('host-b', '250000');
      assert.equal(a.statusCode, 200, a.body);
      assert.deepEqual(a.json(), { host: 'host-b', clockErrorNs: '250000', frames: 0, completions: 0 });
      assert.equal((await put('host-a', 1500)).statusCode, 200);
      // a second statement replaces the first
      assert.equal((await put('host-b', '9000000000000000000')).statusCode, 200);
      const got = (await app.inject({ url: `/sessions/${id}` })).json();
      assert.deepEqual(got.hosts, [
        { host: 'host-a', clockErrorNs: '1500', frames: 0, completions: 0 },
        { host: 'host-b', clockErrorNs: '9000000000000000000', frames: 0, completions: 0 },
      ]);
      assert.deepEqual((await app.inject({ url: `/sessions/${id}/hosts` })).json(), { items: got.hosts });
      // a statement is a change of the session: its updatedNs moves (the correlation's cache key reads it)
      assert.ok(BigInt(got.updatedNs) > BigInt(fresh.updatedNs), `${got.updatedNs} > ${fresh.updatedNs}`);
      // the list of sessions does not carry hosts (one query per session: ask GET /sessions/:id)
      assert.equal((await app.inject({ url: '/sessions' })).json().items[0].hosts, undefined);

      const refused = async (res: Awaited<ReturnType<typeof put>>, status: number, code: string, field: RegExp) => {
        assert.equal(res.statusCode, status, res.body);
        assert.equal(res.json().error.code, code);
        assert.match(res.json().error.message, field);
      };
      await refused(await put('-x', 1), 400, 'ACKSCOPE_ERR_VALIDATION', /params\.host: host name "-x" must start/);
      await refused(await put('a%20b', 1), 400, 'ACKSCOPE_ERR_VALIDATION', /params\.host: host name "a b" may hold only/);
      await refused(await put('host-a', -1), 400, 'ACKSCOPE_ERR_VALIDATION', /clockErrorNs/);
      await refused(await put('host-a', '1.5'), 400, 'ACKSCOPE_ERR_VALIDATION', /clockErrorNs/);
      await refused(await put('host-a', '9223372036854775808'), 400, 'ACKSCOPE_ERR_VALIDATION', /body\.clockErrorNs: 9223372036854775808 is not integer nanoseconds within 64 bits/);
      await refused(await app.inject({ method: 'PUT', url: `/sessions/${id}/hosts/host-a`, payload: { clockErrorNs: 1, extra: 1 } }), 400, 'ACKSCOPE_ERR_VALIDATION', /extra/);
      await refused(await put('host-a', 1, 999999), 404, 'ACKSCOPE_ERR_SESSION_NOT_FOUND', /999999/);
      // nothing refused was stored
      assert.deepEqual((await app.inject({ url: `/sessions/${id}/hosts` })).json().items, got.hosts);
    } finally {
      await close();
    }
  });

  test(`[${store}] hosts: the service's own host is listed with the frames it imported and the completions it stored, unstated (null)`, async () => {
    const t = tempDir();
    const capture = await buildStoreCapture(join(t.dir, 'reference.db'), 3);
    capture.db.close();
    const { app, close } = await testApp(undefined, { storeHost: 'capture-1' });
    try {
      const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'one host', kind: 'import' } })).json().id as number;
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from(capture.file) })).statusCode, 200);
      const body = capture.rows.map((row) => JSON.stringify({ ...completionToApi({ ...row, id: 0 }), id: undefined })).join('\n') + '\n';
      const posted = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' }, payload: body });
      assert.equal(posted.statusCode, 200, posted.body);
      // the witness of the frames: what the frames route lists
      const frames = (await app.inject({ url: `/sessions/${id}/frames?limit=10000` })).json().items.length as number;
      assert.ok(frames > 0);
      assert.deepEqual((await app.inject({ url: `/sessions/${id}` })).json().hosts, [{ host: 'capture-1', clockErrorNs: null, frames, completions: capture.completions }]);
      // a statement about the own host keeps its counts
      assert.deepEqual((await app.inject({ method: 'PUT', url: `/sessions/${id}/hosts/capture-1`, payload: { clockErrorNs: '40000' } })).json(), {
        host: 'capture-1',
        clockErrorNs: '40000',
        frames,
        completions: capture.completions,
      });
    } finally {
      await close();
      t.cleanup();
    }
  });
}

test('ACKSCOPE_STORE_HOST that is not a host name: the service refuses to start, naming it', async () => {
  const t = tempDir();
  try {
    await assert.rejects(buildApp({ dbPath: join(t.dir, 'x.db'), logger: false, storeHost: 'my host' }), (err: unknown) => {
      assert.equal((err as { code: string }).code, 'ACKSCOPE_ERR_CONFIG_INVALID');
      assert.match((err as Error).message, /^ACKSCOPE_STORE_HOST: host name "my host" may hold only/);
      return true;
    });
  } finally {
    t.cleanup();
  }
});

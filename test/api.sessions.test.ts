import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testApp, tempDir } from './helpers/app.js';
import { storeMatrix } from './helpers/stores.js';

/** Each test below runs on both stores (test/helpers/stores.ts). */
const STORES = storeMatrix();

for (const { store, testApp } of STORES) {
  test(`[${store}] sessions: create, get, list newest first with pagination, delete`, async () => {
    const { app, close } = await testApp();
    try {
      const created = [];
      for (let i = 0; i < 5; i++) {
        const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: `s${i}`, kind: 'import' } });
        assert.equal(res.statusCode, 201, res.body);
        created.push(res.json());
      }
      const live = await app.inject({
        method: 'POST',
        url: '/sessions',
        payload: { name: 'lo', kind: 'live', interface: 'lo', filter: 'tcp port 9', snaplen: 65535 },
      });
      assert.equal(live.statusCode, 201, live.body);
      const l = live.json();
      assert.equal(l.state, 'created');
      assert.equal(l.interface, 'lo');
      assert.equal(l.filter, 'tcp port 9');
      assert.match(l.createdNs, /^\d{19}$/);
      assert.equal(l.counts.frames, 0);

      const got = await app.inject({ url: `/sessions/${created[2].id}` });
      assert.equal(got.statusCode, 200);
      assert.equal(got.json().name, 's2');

      const page1 = await app.inject({ url: '/sessions?limit=4' });
      assert.equal(page1.statusCode, 200);
      const p1 = page1.json();
      assert.deepEqual(p1.items.map((s: { name: string }) => s.name), ['lo', 's4', 's3', 's2']);
      assert.ok(p1.nextCursor);
      const p2 = (await app.inject({ url: `/sessions?limit=4&cursor=${p1.nextCursor}` })).json();
      assert.deepEqual(p2.items.map((s: { name: string }) => s.name), ['s1', 's0']);
      assert.equal(p2.nextCursor, null);

      // delete removes the row and the session's files
      const dir = app.sessionDir(created[0].id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'capture.pcapng'), 'x');
      const del = await app.inject({ method: 'DELETE', url: `/sessions/${created[0].id}` });
      assert.equal(del.statusCode, 204);
      assert.equal(existsSync(dir), false);
      assert.equal((await app.inject({ url: `/sessions/${created[0].id}` })).statusCode, 404);
      // ids are never given again, not even the newest one's once deleted
      assert.equal((await app.inject({ method: 'DELETE', url: `/sessions/${l.id}` })).statusCode, 204);
      const next = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'after', kind: 'import' } });
      assert.ok(next.json().id > l.id, `new id ${next.json().id} after deleting ${l.id}`);
      assert.deepEqual((await app.inject({ url: '/sessions' })).json().items.map((s: { name: string }) => s.name), ['after', 's4', 's3', 's2', 's1']);
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] invalid bodies give 400 naming the field`, async () => {
    const { app, close } = await testApp();
    try {
      const cases: [unknown, string][] = [
        [{ kind: 'import' }, 'body.name'],
        [{ name: '', kind: 'import' }, 'body.name'],
        [{ name: 'x', kind: 'sideways' }, 'body.kind'],
        [{ name: 'x', kind: 'live' }, 'body.interface'],
        [{ name: 'x', kind: 'live', interface: 'lo', snaplen: 10 }, 'body.snaplen'],
        [{ name: 'x', kind: 'import', filter: 'tcp' }, 'body.filter'],
        [{ name: 'x', kind: 'import', colour: 'red' }, 'body.colour'],
      ];
      for (const [payload, field] of cases) {
        const res = await app.inject({ method: 'POST', url: '/sessions', payload: payload as object });
        assert.equal(res.statusCode, 400, `${JSON.stringify(payload)} -> ${res.body}`);
        const body = res.json();
        assert.equal(body.error.code, 'ACKSCOPE_ERR_VALIDATION');
        assert.ok(body.error.message.startsWith(field), `${body.error.message} names ${field}`);
      }
      const bad = await app.inject({ method: 'POST', url: '/sessions', headers: { 'content-type': 'application/json' }, payload: '{"name":' });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error.code, 'ACKSCOPE_ERR_VALIDATION');
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] unknown ids give 404 with an error code`, async () => {
    const { app, close } = await testApp();
    try {
      for (const [method, url] of [['GET', '/sessions/4242'], ['DELETE', '/sessions/4242']] as const) {
        const res = await app.inject({ method, url });
        assert.equal(res.statusCode, 404);
        assert.equal(res.json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
        assert.match(res.json().error.message, /session 4242 does not exist/);
      }
      const route = await app.inject({ url: '/nowhere' });
      assert.equal(route.statusCode, 404);
      assert.equal(route.json().error.code, 'ACKSCOPE_ERR_NOT_FOUND');
      const badId = await app.inject({ url: '/sessions/abc' });
      assert.equal(badId.statusCode, 400);
      assert.match(badId.json().error.message, /^params\.id/);
    } finally {
      await close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] data survives a restart of the app on the same file`, async () => {
    const t = tempDir();
    try {
      const first = await testApp(t.dir);
      const res = await first.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'keep', kind: 'import' } });
      const id = res.json().id;
      await first.app.close();
      const second = await testApp(t.dir);
      const got = await second.app.inject({ url: `/sessions/${id}` });
      assert.equal(got.statusCode, 200);
      assert.equal(got.json().name, 'keep');
      await second.app.close();
    } finally {
      t.cleanup();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] healthz, request ids and the OpenAPI document`, async () => {
    const { app, close } = await testApp();
    try {
      const health = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      assert.deepEqual(health.json(), { status: 'ok' });
      assert.equal(health.headers['x-request-id'], 'abc-123');
      const doc = await app.inject({ url: '/docs/json' });
      assert.equal(doc.statusCode, 200);
      const paths = Object.keys(doc.json().paths);
      for (const p of ['/sessions', '/sessions/{id}', '/healthz']) assert.ok(paths.includes(p), p);
      const ui = await app.inject({ url: '/docs/' });
      assert.equal(ui.statusCode, 200);
      assert.match(ui.body, /swagger/i);
    } finally {
      await close();
    }
  });
}

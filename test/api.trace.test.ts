import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startReceiver } from '../sender/receiver.js';
import { testApp } from './helpers/app.js';
import { storeMatrix } from './helpers/stores.js';
import type { CorrelationT } from '../service/schemas/correlation.js';

const STORES = storeMatrix();

/**
 * A live session traces a running process through the API (POST /sessions/:id/trace),
 * as root: an unchanged Python client, its records and kernel witnesses stored while it
 * runs; the receiver's byte count is the witness for the tiling, the capture for stages.
 */
for (const { store, testApp: storeApp } of STORES) test(`[${store}] API: a live session traces a running PID; records tile what the receiver read, each with its kernel witness`, async () => {
  assert.equal(process.getuid?.(), 0, 'the tracer and the capture need root');
  const { app, close } = await storeApp();
  const ends: { bytes: number }[] = [];
  const receiver = await startReceiver({ port: 0, onConnectionEnd: (e) => ends.push(e) });
  try {
    const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'pid', kind: 'live', interface: 'lo', filter: 'tcp' } })).json().id;
    assert.equal((await app.inject({ method: 'POST', url: `/sessions/${session}/start` })).statusCode, 200);
    // waits for a line on stdin, so the tracer is attached before the first send
    const script = `import socket, sys\nsys.stdin.readline()\ns = socket.create_connection(("127.0.0.1", ${receiver.port}))\nfor i in range(50): s.sendall(b"z" * (4096 + i))\ns.close()\n`;
    const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'ignore', 'inherit'] });
    await once(child, 'spawn');
    const traced = await app.inject({ method: 'POST', url: `/sessions/${session}/trace`, payload: { pid: child.pid } });
    assert.equal(traced.statusCode, 202, traced.body);
    const again = await app.inject({ method: 'POST', url: `/sessions/${session}/trace`, payload: { pid: child.pid } });
    assert.equal(again.statusCode, 409, 'one trace per session');
    await new Promise((r) => setTimeout(r, 500));
    child.stdin!.end('go\n');
    await once(child, 'exit');
    let stats = await app.inject({ url: `/sessions/${session}/trace` });
    for (let i = 0; i < 100 && stats.statusCode !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await app.inject({ url: `/sessions/${session}/trace` });
    }
    assert.equal(stats.statusCode, 200, 'the trace ended with the process and said so');
    assert.equal(stats.json().lostEvents, 0);
    assert.equal(stats.json().target, `pid ${child.pid}`);
    while (ends.length === 0) await new Promise((r) => setTimeout(r, 10));
    await app.inject({ method: 'POST', url: `/sessions/${session}/stop` });

    const items = (await app.inject({ url: `/sessions/${session}/correlations?limit=1000` })).json().items as CorrelationT[];
    items.sort((a, b) => a.writeId - b.writeId);
    assert.equal(items.length, 50);
    // the page's live counters over the captured flows (on ClickHouse: each flow's newest version)
    const flows = (await app.inject({ url: `/sessions/${session}/flows` })).json().items as { id: number; frames: number }[];
    const live = (await app.inject({ url: `/ui/data/sessions/${session}/live` })).json();
    const busiest = flows.reduce((a, b) => (b.frames > a.frames ? b : a));
    assert.deepEqual([live.flows, live.busiestFlowId, live.completions], [flows.length, busiest.id, 50]);
    assert.equal(items[0].offsetStart, 0);
    for (let i = 1; i < items.length; i++) assert.equal(items[i].offsetStart, items[i - 1].offsetEnd);
    assert.equal(items.at(-1)!.offsetEnd, ends[0].bytes);
    for (const c of items) {
      assert.ok(c.kernel && c.kernel.driverNs !== null, `write ${c.writeId} has its driver moment`);
      assert.notEqual(c.stage, 'unknown', `write ${c.writeId}: ${c.reason}`);
    }
  } finally {
    await receiver.close();
    await close();
  }
});

test('API: tracing is refused for an import session and for a PID that does not exist', async () => {
  const { app, close } = await testApp();
  try {
    const imp = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'i', kind: 'import' } })).json().id;
    const r1 = await app.inject({ method: 'POST', url: `/sessions/${imp}/trace`, payload: { pid: process.pid } });
    assert.equal(r1.statusCode, 409);
    assert.equal(r1.json().error.code, 'ACKSCOPE_ERR_SESSION_KIND');
    const live = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'l', kind: 'live', interface: 'lo' } })).json().id;
    const bad = await app.inject({ method: 'POST', url: `/sessions/${live}/trace`, payload: { pid: 0 } });
    assert.equal(bad.statusCode, 400, 'pid must be ≥ 1');
    const r2 = await app.inject({ method: 'POST', url: `/sessions/${live}/trace`, payload: { pid: 4_000_000 } });
    assert.equal(r2.statusCode, 404);
    assert.equal(r2.json().error.code, 'ACKSCOPE_ERR_TRACER_NO_PID');
    assert.equal((await app.inject({ url: `/sessions/${live}/trace` })).statusCode, 404, 'nothing was traced');
  } finally {
    await close();
  }
});

/**
 * The service's tracer on either store, into a live session that does not capture: the
 * records and witnesses it stores every second go through the store, and the kernel
 * witness alone decides each stage. Witness: the receiver's byte count.
 */
for (const { store, testApp: storeApp } of STORES) {
  test(`[${store}] API: the tracer into a session that does not capture: records tile what the receiver read, each decided by its kernel witness`, async () => {
    assert.equal(process.getuid?.(), 0, 'the tracer needs root');
    const { app, close } = await storeApp();
    const ends: { bytes: number }[] = [];
    const receiver = await startReceiver({ port: 0, onConnectionEnd: (e) => ends.push(e) });
    try {
      const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'traced', kind: 'live', interface: 'lo' } })).json().id;
      // waits for a line on stdin, so the tracer is attached before the first send; then for a second line, so the trace is stopped while it runs
      const script = `import socket, sys\nsys.stdin.readline()\ns = socket.create_connection(("127.0.0.1", ${receiver.port}))\nfor i in range(30): s.sendall(b"y" * (2048 + i))\ns.close()\nsys.stdin.readline()\n`;
      const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'ignore', 'inherit'] });
      await once(child, 'spawn');
      const traced = await app.inject({ method: 'POST', url: `/sessions/${session}/trace`, payload: { pid: child.pid } });
      assert.equal(traced.statusCode, 202, traced.body);
      await new Promise((r) => setTimeout(r, 500));
      child.stdin!.write('go\n');
      while (ends.length === 0) await new Promise((r) => setTimeout(r, 10));
      // the late moments (ACKs) of the last writes are in the tracer's next second
      await new Promise((r) => setTimeout(r, 1500));
      const stopped = await app.inject({ method: 'POST', url: `/sessions/${session}/trace/stop` });
      assert.deepEqual([stopped.statusCode, stopped.json()], [200, { tracing: false }]);
      child.stdin!.end('done\n');
      await once(child, 'exit');
      const stats = await app.inject({ url: `/sessions/${session}/trace` });
      assert.equal(stats.statusCode, 200, stats.body);
      assert.equal(stats.json().target, `pid ${child.pid}`);
      assert.equal(stats.json().lostEvents, 0);

      const items = (await app.inject({ url: `/sessions/${session}/correlations?limit=1000` })).json().items as CorrelationT[];
      items.sort((a, b) => a.writeId - b.writeId);
      assert.equal(items.length, 30);
      assert.equal(items[0].offsetStart, 0);
      for (let i = 1; i < items.length; i++) assert.equal(items[i].offsetStart, items[i - 1].offsetEnd);
      assert.equal(items.at(-1)!.offsetEnd, ends[0].bytes, 'the traced calls tile what the receiver read');
      for (const c of items) {
        assert.ok(c.kernel && c.kernel.qdiscInNs !== null, `write ${c.writeId} has its kernel witness`);
        assert.equal(c.decidedBy, 'kernel', `write ${c.writeId}: no capture, the kernel decides`);
        assert.notEqual(c.stage, 'unknown', `write ${c.writeId}: ${c.reason}`);
      }
    } finally {
      await receiver.close();
      await close();
    }
  });
}

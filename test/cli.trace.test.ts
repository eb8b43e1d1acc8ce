import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { startReceiver } from '../sender/receiver.js';
import { testApp } from './helpers/app.js';
import type { CorrelationT, SummaryT } from '../service/schemas/correlation.js';

/**
 * `ackscope trace -- COMMAND` on a program nobody here wrote (Python's sendall), as root:
 * a live session on lo, the kernel tracer, the report. Witnesses: the receiver's own byte
 * count (the records must tile it) and the capture (every write gets a stage from it, and
 * the tracer's driver moments are compared with its frames).
 */
const CLI = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const PYTHON_CLIENT = `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(200):
    s.sendall(bytes([i % 256]) * (1000 + 37 * i))
s.close()
sys.exit(3)
`;

test('trace: an unchanged Python client, its exit code passed through, every send a record with a stage and a kernel witness', async () => {
  assert.equal(process.getuid?.(), 0, 'the kernel tracer and the capture need root');
  const { app, close } = await testApp();
  const ends: { bytes: number }[] = [];
  const receiver = await startReceiver({ port: 0, onConnectionEnd: (e) => ends.push(e) });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const run = await runCli(['trace', '--url', url, '-i', 'lo', '--', 'python3', '-c', PYTHON_CLIENT, String(receiver.port)]);
    assert.equal(run.code, 3, `the program's exit code: ${run.stderr}`);
    assert.match(run.stdout, /Where the bytes were when the call completed/);
    assert.match(run.stdout, /Kernel witness: 200 writes traced/);
    const session = Number(/session (\d+) capturing lo/.exec(run.stderr)?.[1]);
    assert.ok(session > 0, run.stderr);
    while (ends.length === 0) await new Promise((r) => setTimeout(r, 10));

    const items = (await app.inject({ url: `/sessions/${session}/correlations?limit=1000` })).json().items as CorrelationT[];
    assert.equal(items.length, 200, 'one record per sendall');
    items.sort((a, b) => a.writeId - b.writeId);
    let next = 0;
    for (const c of items) {
      assert.equal(c.offsetStart, next);
      assert.equal(c.bytesReported, c.offsetEnd - c.offsetStart);
      assert.match(c.api, /^linux:/);
      next = c.offsetEnd;
      assert.notEqual(c.stage, 'unknown', `write ${c.writeId}: ${c.reason}`);
      assert.ok(c.kernel, `write ${c.writeId} has a kernel witness`);
      assert.ok(c.kernel.driverNs !== null, `write ${c.writeId}: the driver hand-off was seen`);
    }
    assert.equal(next, ends[0].bytes, "the records tile exactly the bytes the receiver read");

    const summary = (await app.inject({ url: `/sessions/${session}/summary` })).json() as SummaryT;
    assert.equal(summary.overall.kernel.witnessed, 200);
    assert.ok(summary.overall.kernel.driverMinusWire.count > 0, 'the driver moments were compared with captured frames');
    // on lo the capture keeps the receive-side copy, a little after the driver hand-off (docs/design-notes.md)
    assert.ok(Number(summary.overall.kernel.driverMinusWire.p50) <= 0, `driver − wire p50 ${summary.overall.kernel.driverMinusWire.p50}`);
    const trace = (await app.inject({ url: `/sessions/${session}/trace` })).json();
    assert.equal(trace.exitCode, 3);
    assert.equal(trace.lostEvents, 0);
    const state = (await app.inject({ url: `/sessions/${session}` })).json().state;
    assert.equal(state, 'stopped');
  } finally {
    await receiver.close();
    await close();
  }
});

test('trace: a command that cannot start is refused with its error, and nothing is left capturing', async () => {
  const { app, close } = await testApp();
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const run = await runCli(['trace', '--url', url, '--', '/nonexistent/program']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /ENOENT|cannot start/);
    const sessions = (await app.inject({ url: '/sessions' })).json().items as { state: string }[];
    assert.ok(sessions.every((s) => s.state !== 'capturing'), 'the capture was stopped');
  } finally {
    await close();
  }
});

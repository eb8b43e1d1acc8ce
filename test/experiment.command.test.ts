/**
 * `ackscope experiment` with a command sender, as root, on real traffic: an unchanged
 * Python client nobody here wrote (socket.sendall) becomes a matrix point on loopback and
 * behind the veth rig's 20 Mbit/s tbf. Its send calls come from the kernel tracer only.
 * Witness: the rig's receiver, which counts the bytes it read on its own; the traced
 * records must tile exactly those bytes, every completion gets a stage (with the kernel's
 * moments), and the report shows the point and its ladder per API. A command that cannot
 * start fails its point with the tracer's words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEntry, nodeCommand } from '../experiment/rig.js';
import type { ExperimentRun, PointResult } from '../experiment/results.js';
import type { CorrelationT, SummaryT } from '../service/schemas/correlation.js';
import type { TraceStats } from '../core/kernel-witness.js';
import { buildApp, type App } from '../service/app.js';
import { tempDir } from './helpers/app.js';
import { requireRoot } from './helpers/require.js';
import { tracerBinary } from '../tracer/index.js';

/** A plain Python client: connect, sendall COUNT blocks of SIZE bytes, close. */
const CLIENT = `
import socket, sys
host, port, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((host, port))
for i in range(count):
    s.sendall(bytes([65 + i % 26]) * size)
s.close()
`;

const SIZE = 16384;
const COUNT = 64;

async function getJson<T>(app: App, url: string): Promise<T> {
  const res = await app.inject({ url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json() as T;
}

async function correlationsOf(app: App, sessionId: number): Promise<CorrelationT[]> {
  const page = await getJson<{ items: CorrelationT[]; nextCursor: string | null }>(app, `/sessions/${sessionId}/correlations?limit=10000`);
  assert.equal(page.nextCursor, null);
  return page.items;
}

test('a command sender (unchanged python3 sendall) as matrix points on loopback and behind 20 Mbit/s tbf', async (t) => {
  requireRoot('network namespaces, live capture and the kernel tracer');
  assert.ok(existsSync(tracerBinary()), 'the kernel tracer must be built (bash scripts/build.sh)');
  const tmp = tempDir('ackscope-exp-cmd-');
  t.after(tmp.cleanup);
  const matrixFile = join(tmp.dir, 'matrix.json');
  writeFileSync(
    matrixFile,
    JSON.stringify({
      senders: [
        { name: 'python', command: ['python3', '-c', CLIENT, '{host}', '{port}', '{size}', '{count}'] },
        { name: 'missing', command: ['/nonexistent/ackscope-test-program', '{host}', '{port}'] },
      ],
      modes: ['serial'],
      sizes: [SIZE],
      sndbufs: ['default'],
      rates: ['loopback', '20mbit'],
      receivers: ['reads'],
      count: COUNT,
    }),
  );
  const out = join(tmp.dir, 'report');
  const dbPath = join(tmp.dir, 'ackscope.db');
  const cmd = nodeCommand(cliEntry(), ['experiment', '--out', out, '--db', dbPath, '--matrix', matrixFile, '--progress', 'quiet']);
  const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, output);

  const run = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ExperimentRun;
  const byLabel = new Map(run.results.map((r) => [r.point.label, r]));
  const label = (sender: string, path: string) => `${sender} serial 16KiB sndbuf=default ${path} reads`;
  assert.deepEqual([...byLabel.keys()], [label('python', 'loopback'), label('missing', 'loopback'), label('python', '20Mbit/s'), label('missing', '20Mbit/s')]);

  // a program that cannot start: its point fails with the tracer's reason, the run goes on
  for (const path of ['loopback', '20Mbit/s']) {
    const r = byLabel.get(label('missing', path))!;
    assert.equal(r.status, 'failed');
    assert.match(r.reason ?? '', /ACKSCOPE_ERR_TRACER_COMMAND: cannot start \/nonexistent\/ackscope-test-program/);
  }

  const app = await buildApp({ dbPath, logger: false });
  t.after(() => app.close());
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  for (const path of ['loopback', '20Mbit/s'] as const) {
    const r: PointResult = byLabel.get(label('python', path))!;
    assert.equal(r.status, 'ok', r.reason ?? '');
    assert.equal(r.reason, null, `${path}: the connection settled`);
    // the receiver's own count: every byte the program sent arrived
    assert.equal(r.received, SIZE * COUNT, `${path}: what the receiver read`);

    const items = (await correlationsOf(app, r.sessionId!)).sort((a, b) => a.offsetStart - b.offsetStart);
    assert.ok(items.length >= COUNT, `${path}: at least one send call per sendall (${items.length})`);
    // the traced calls tile exactly the bytes the receiver read: contiguous, nothing twice, nothing missing
    let next = 0;
    for (const c of items) {
      assert.equal(c.offsetStart, next, `${path}: write ${c.writeId} starts where the previous call's accepted bytes ended`);
      next = c.offsetStart + c.bytesReported;
    }
    assert.equal(next, r.received, `${path}: the calls' bytes add up to what the receiver read`);
    for (const c of items) {
      assert.match(c.api, /^linux:(write|writev|send|sendto|sendmsg)$/, `${path}: the record is a system call's`);
      assert.notEqual(c.stage, 'unknown', `${path}: write ${c.writeId} got a stage`);
      assert.notEqual(c.kernel, null, `${path}: write ${c.writeId} has the kernel's witness`);
      assert.notEqual(c.flowId, null, `${path}: the capture saw write ${c.writeId}'s connection`);
    }
    const summary = await getJson<SummaryT>(app, `/sessions/${r.sessionId}/summary`);
    const flows = summary.flows.filter((f) => f.flowId !== null);
    assert.equal(flows.length, 1, `${path}: one connection captured`);
    if (path === '20Mbit/s') {
      assert.match(flows[0].endpoints ?? '', /198\.1[89]\./, "the program's socket lived in the rig's sender namespace");
      // behind the bottleneck, calls blocked on a full send buffer return long before TCP passes their bytes down
      const socket = items.filter((c) => c.stage === 'socket').length;
      assert.ok(socket >= 10, `behind tbf most calls return with their last byte still in the socket (${socket} of ${items.length})`);
    }
    const stats = await getJson<TraceStats>(app, `/sessions/${r.sessionId}/trace`);
    assert.equal(stats.exitCode, 0);
    assert.equal(stats.lostEvents, 0);
    assert.equal(stats.calls, items.length);
    assert.equal(r.measurement!.completions, items.length);
    assert.equal(r.measurement!.kernelWitness?.witnessed, items.length);

    // the report shows the point, in the stage table and in the ladder per API
    assert.ok(md.includes(`| ${r.point.index + 1} | ${label('python', path)} | ok |`), `${path}: the sessions table lists the point`);
    assert.match(md, new RegExp(`\\| ${r.point.index + 1} \\| python \\| serial \\| 16KiB \\| default \\| ${path.replace('/', '\\/')} \\| reads \\| ${items.length} \\|`));
    assert.match(md, new RegExp(`\\| ${r.point.index + 1} \\| python \\| linux:\\w+ \\| ${path.replace('/', '\\/')} \\| reads \\| ${items.length} \\|`));
    assert.match(md, new RegExp(`- \\*\\*python, \`linux:\\w+\`, ${path.replace('/', '\\/')}\\*\\* \\(1 point, ${items.length} calls\\): when the call returned, the last byte was`));
  }
  assert.match(md, /### The ladder per API \(commands traced by the kernel tracer\)/);
});

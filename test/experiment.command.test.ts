/**
 * `ackscope experiment` with a command sender, as root, on real traffic: an unchanged
 * Python client nobody here wrote (socket.sendall) becomes a matrix point on loopback and
 * behind the veth rig's 20 Mbit/s tbf. Its send calls come from the kernel tracer only.
 * Witness: the rig's receiver, which counts the bytes it read on its own; the traced
 * records must tile exactly those bytes, every completion gets a stage (with the kernel's
 * moments), and the report shows the point and its ladder per API. A command that cannot
 * start fails its point with the tracer's words. Ctrl-C in the middle of a traced point
 * leaves no tracer, program or namespace behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { cliEntry, nodeCommand } from '../experiment/rig.js';
import type { ExperimentRun, PointResult } from '../experiment/results.js';
import type { CorrelationT, SummaryT } from '../service/schemas/correlation.js';
import type { TraceStats } from '../core/kernel-witness.js';
import { buildApp, type App } from '../service/app.js';
import { tempDir } from './helpers/app.js';
import { requireRoot } from './helpers/require.js';
import { tracerBinary } from '../tracer/index.js';
import { assertNoTracerLeft, tracerLeftovers } from './helpers/tracer-live.js';

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

/** Every process the experiment starts inherits this variable (the traced program too), so leftovers can be found. */
const MARK = 'ACKSCOPE_TEST_MARK';

function processesMarked(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`${MARK}=${mark}`)) found.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

for (const rate of ['20mbit', 'loopback'] as const) {
  test(`Ctrl-C in the middle of a traced command point (${rate}): exit 130, no tracer, program or namespace left`, async (t) => {
    requireRoot('network namespaces, live capture and the kernel tracer');
    const tmp = tempDir('ackscope-exp-cmd-int-');
    t.after(tmp.cleanup);
    const matrixFile = join(tmp.dir, 'matrix.json');
    // the receiver stops reading for a minute: the program is surely blocked in a send when interrupted
    writeFileSync(
      matrixFile,
      JSON.stringify({
        senders: [{ name: 'python', command: ['python3', '-c', CLIENT, '{host}', '{port}', '{size}', '{count}'] }],
        modes: ['serial'], sizes: [SIZE], sndbufs: ['default'], rates: [rate], receivers: ['stops:65536:60000'], count: 2000,
      }),
    );
    const mark = `cmd-interrupt-${process.pid}-${Date.now()}`;
    const cmd = nodeCommand(cliEntry(), ['experiment', '--out', join(tmp.dir, 'report'), '--db', join(tmp.dir, 'ackscope.db'), '--matrix', matrixFile, '--progress', 'lines']);
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [MARK]: mark } });
    child.stdout!.resume();
    // the experiment's progress lines, shown with a failure below
    const said: string[] = [];
    const started = new Promise<void>((resolve) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        said.push(line);
        if (line.startsWith('[1/1]')) resolve();
      }).on('close', resolve);
    });
    await started;
    // wait until the program runs under the tracer (its python3 carries the mark), then interrupt
    const deadline = Date.now() + 30_000;
    const tracedProgram = () =>
      processesMarked(mark).some((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'python3';
        } catch {
          return false;
        }
      });
    let running = tracedProgram();
    while (!running && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      running = tracedProgram();
    }
    assert.ok(running, `the traced program should be running mid-point; the experiment said: ${said.join(' | ')}`);
    assert.ok(tracerLeftovers().length > 0, "the tracer's programs are loaded");
    child.kill('SIGINT');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    assert.equal(child.exitCode, 130);
    const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`ackscope-${child.pid}-`));
    assert.deepEqual(namespaces, []);
    let left = processesMarked(mark);
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = processesMarked(mark);
    }
    assert.deepEqual(left, [], 'a tracer, traced program, sink or driver outlived the experiment');
    await assertNoTracerLeft('an interrupted command point');
  });
}

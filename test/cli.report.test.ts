import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testApp } from './helpers/app.js';
import { SyntheticSession } from '../fixtures/flowbuilder.js';
import { formatNs } from '../cli/report.js';

const run = promisify(execFile);

test('formatNs picks a readable unit', () => {
  assert.deepEqual(['512', '-1500', '2500000', '3000000000', null].map((v) => formatNs(v)), ['512 ns', '-1.50 µs', '2.50 ms', '3.00 s', '–']);
});

test('ackscope report prints the summary tables from a running service', async () => {
  const { app, close } = await testApp();
  try {
    const s = new SyntheticSession(app.db, 'report');
    const f = s.flow({ a: ['10.0.0.1', 40000], b: ['10.0.0.2', 7000] });
    f.segment(10, 0, 100).ack(20, 100).segment(40, 100, 100).ack(90, 200);
    s.completion({ src: ['10.0.0.1', 40000], dst: ['10.0.0.2', 7000], writeId: 0, start: 0, end: 100, submittedUs: 1, completedUs: 30 });
    s.completion({ src: ['10.0.0.1', 40000], dst: ['10.0.0.2', 7000], writeId: 1, start: 100, end: 200, submittedUs: 35, completedUs: 50, bytesReported: 60 });
    s.finish();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    const url = `http://127.0.0.1:${address.port}`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'cli/ackscope.ts', 'report', String(s.id), '--url', url]);
    assert.match(stdout, /Stage at completion/);
    const allRow = stdout.split('\n').find((l) => /│ all\s+│/.test(l))!;
    assert.ok(allRow, stdout);
    // completions 2: one acked, one on the wire (50% each)
    assert.match(allRow, /│ 2\s+│ 0\s+│ 0\s+│ 1 \(50\.0%\)\s+│ 1 \(50\.0%\)\s+│ 0\s+│/);
    assert.match(stdout, /flow \d+ 10\.0\.0\.1:40000 <-> 10\.0\.0\.2:7000/);
    assert.match(stdout, /1 of 2: w1 60\/100/);
    assert.match(stdout, /complete − submit/);
    const missing = await run(process.execPath, ['--import', 'tsx', 'cli/ackscope.ts', 'report', '999', '--url', url]).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    assert.ok(missing, 'an unknown session fails');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ACKSCOPE_ERR_SESSION_NOT_FOUND/);
  } finally {
    await close();
  }
});

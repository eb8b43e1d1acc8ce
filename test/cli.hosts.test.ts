import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testApp } from './helpers/app.js';
import { parseClockErrorNs } from '../cli/hosts.js';

const run = promisify(execFile);

test('parseClockErrorNs takes whole ns up to int64, as the API does', () => {
  assert.equal(parseClockErrorNs('0'), '0');
  assert.equal(parseClockErrorNs('9223372036854775807'), '9223372036854775807');
  for (const bad of ['', '-1', '1.5', '1e6', '9223372036854775808', '250us']) {
    assert.throws(() => parseClockErrorNs(bad), /--clock-error-ns must be a whole number of nanoseconds/, bad);
  }
});

test('ackscope hosts states a host clock error through the service and lists the hosts', async () => {
  const { app, close } = await testApp();
  try {
    const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'cli', kind: 'import' } })).json().id as number;
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'cli/ackscope.ts', 'hosts', ...args, '--url', url]);
    const empty = await cli(String(id));
    assert.match(empty.stdout, /no host has stated a clock error/);
    const set = await cli(String(id), 'sender-b', '--clock-error-ns', '250000');
    assert.match(set.stdout, /│ sender-b\s+│ 250 µs\s+│ 0\s+│ 0\s+│/);
    // what the service holds, read back over HTTP
    assert.deepEqual((await app.inject({ url: `/sessions/${id}/hosts` })).json().items, [{ host: 'sender-b', clockErrorNs: '250000', frames: 0, completions: 0 }]);
    const failed = await cli(String(id), 'bad/host', '--clock-error-ns', '1').then(() => null, (err: { code: number; stderr: string }) => err);
    assert.equal(failed?.code, 1);
    assert.match(failed!.stderr, /ACKSCOPE_ERR_VALIDATION: host: host name "bad\/host" may hold only/);
    const noValue = await cli(String(id), 'sender-b').then(() => null, (err: { code: number; stderr: string }) => err);
    assert.match(noValue!.stderr, /give --clock-error-ns N with a host/);
  } finally {
    await close();
  }
});

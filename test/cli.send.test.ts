import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { parseBytes, parseSizes, parseTarget } from '../cli/send.js';
import { startReceiver } from '../sender/index.js';
import { testApp } from './helpers/app.js';

const CLI = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('send: target, sizes and byte counts parse; bad ones name the option', () => {
  assert.deepEqual(parseTarget('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  assert.deepEqual(parseTarget('[::1]:7000'), { host: '::1', port: 7000 });
  assert.deepEqual(parseTarget('sink.local:80'), { host: 'sink.local', port: 80 });
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:7000', ':7000']) {
    assert.throws(() => parseTarget(bad), /target: expected HOST:PORT/, bad);
  }
  assert.deepEqual(parseSizes('1024'), [1024]);
  assert.deepEqual(parseSizes('512,4k,1m'), [512, 4096, 1048576]);
  assert.equal(parseBytes('64K', 'sndbuf'), 65536);
  assert.throws(() => parseSizes('1k,,2k'), /size: expected a byte count/);
  assert.throws(() => parseBytes('1.5k', 'sndbuf'), /sndbuf/);
});

test('ackscope send: creates a session, reports every call to it and prints one summary line', async () => {
  const { app, close } = await testApp();
  const sink = await startReceiver({ port: 0 });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const run = await runCli(['send', `127.0.0.1:${sink.port}`, '--count', '300', '--size', '100,2k', '--mode', 'vectored', '--buffers', '2', '--tag'], {
      ACKSCOPE_URL: url,
    });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, run.stdout);
    const session = Number(/session (\d+)/.exec(lines[0])?.[1]);
    assert.ok(session >= 1, lines[0]);
    assert.match(lines[0], /^vectored 300\/300 calls, 322200 bytes to 127\.0\.0\.1:\d+ .*completion p50 .*errors 0; flow 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+; session \d+$/);

    const listed = (await app.inject({ url: `/sessions/${session}/completions?limit=1000` })).json().items as {
      writeId: number;
      buffers: number;
      offsetEnd: number;
    }[];
    assert.equal(listed.length, 300);
    assert.ok(listed.every((c, i) => c.writeId === i && c.buffers === 2));
    assert.equal(listed[299].offsetEnd, 322200);

    // joining an existing session with --session, --url given explicitly
    const again = await runCli(['send', `127.0.0.1:${sink.port}`, '--count', '5', '--mode', 'serial', '--session', String(session), '--url', url]);
    assert.equal(again.code, 0, again.stderr);
    // a second connection: a new flow in the same session
    assert.equal((await app.inject({ url: `/sessions/${session}/completions?limit=1000` })).json().items.length, 305);

    const missing = await runCli(['send', `127.0.0.1:${sink.port}`, '--count', '5', '--session', '9999', '--url', url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ACKSCOPE_ERR_SESSION_NOT_FOUND/);
    const noService = await runCli(['send', `127.0.0.1:${sink.port}`, '--count', '5', '--url', 'http://127.0.0.1:1']);
    assert.equal(noService.code, 1);
    assert.match(noService.stderr, /ACKSCOPE_ERR_SERVICE_UNREACHABLE: cannot reach the ackscope service at http:\/\/127\.0\.0\.1:1/);
    const refused = await runCli(['send', '127.0.0.1:1', '--count', '5', '--url', url]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ACKSCOPE_ERR_SENDER_FAILED: cannot connect to 127\.0\.0\.1:1/);
  } finally {
    await sink.close();
    await close();
  }
});

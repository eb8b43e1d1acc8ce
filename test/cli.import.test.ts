/**
 * `ackscope import FILE` as a user runs it (a child process, stderr not a TTY) against
 * the real service listening on a port, with a pcap tcpdump wrote in the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testApp } from './helpers/app.js';
import { tcpdumpCapture } from './helpers/tcpdump.js';

const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
let ctx: Awaited<ReturnType<typeof testApp>>;
let url: string;
let file: string;

function ackscope(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  ctx = await testApp();
  url = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  file = await tcpdumpCapture(ctx.dir, false);
});

after(async () => {
  await ctx?.close();
});

test('import creates a session, streams the file with progress lines, prints the counts', async () => {
  const r = await ackscope('import', file, '--url', url, '--name', 'from the cli');
  assert.equal(r.code, 0, r.stderr);
  const created = /created import session (\d+)/.exec(r.stderr);
  assert.ok(created, r.stderr);
  const id = Number(created[1]);
  assert.match(r.stderr, /import: 100% \(\d+ of \d+ bytes\)/);
  const session = (await ctx.app.inject({ url: `/sessions/${id}` })).json();
  assert.equal(session.name, 'from the cli');
  assert.equal(session.state, 'stopped');
  assert.equal(session.sourceFile, 'us.pcap');
  assert.match(r.stdout, new RegExp(`session ${id}: pcap, ${session.counts.frames} frames \\(${session.counts.tcp} TCP\\) in 3 flows`));
});

test('import into an existing session with --session', async () => {
  const created = await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'given', kind: 'import' } });
  const id = created.json().id;
  const r = await ackscope('import', file, '--url', url, '--session', String(id));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await ctx.app.inject({ url: `/sessions/${id}` })).json().counts.tcp > 0);
});

test('a malformed file: exit 1 and the service’s error with its byte offset on stderr', async () => {
  const broken = join(ctx.dir, 'broken.pcap');
  writeFileSync(broken, readFileSync(file).subarray(0, 100));
  const r = await ackscope('import', broken, '--url', url);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ACKSCOPE_ERR_CAPTURE_FILE: capture file, byte 24: the file ends inside a record/);
});

test('no service listening: a clear message', async () => {
  const r = await ackscope('import', file, '--url', 'http://127.0.0.1:9');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot reach the service at http:\/\/127\.0\.0\.1:9/);
});

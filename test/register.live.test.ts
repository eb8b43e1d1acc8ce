import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isServiceConnection, tcpConnectTarget } from '../sender/auto-instrument.js';
import { startReceiver } from '../sender/receiver.js';
import { testApp } from './helpers/app.js';
import type { CompletionRecord } from '../core/completion.js';

/**
 * `node --import ackscope/register`: unchanged Node programs (test/programs/) get every
 * TCP write recorded. The witness is the receiving side's own byte count: the records of
 * a connection must tile [0, bytes received) exactly, in writeId order.
 */
const register = fileURLToPath(new URL('../sender/register.ts', import.meta.url));
const program = (name: string) => fileURLToPath(new URL(`./programs/${name}`, import.meta.url));

function runNode(script: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', register, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number, stderr }));
  return { child, exited };
}

function assertTiles(records: CompletionRecord[], bytes: number): void {
  const sorted = [...records].sort((a, b) => a.writeId - b.writeId);
  let next = 0;
  for (const [i, r] of sorted.entries()) {
    assert.equal(r.writeId, i, 'writeIds count from 0 without gaps');
    assert.equal(r.offsetStart, next, `write ${r.writeId} starts where the previous ended`);
    assert.equal(r.bytesReported, r.offsetEnd - r.offsetStart);
    assert.equal(r.status, 'ok');
    next = r.offsetEnd;
  }
  assert.equal(next, bytes, 'the records cover exactly the bytes the peer read');
}

async function serviceWithSession() {
  const ctx = await testApp();
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  const session = (await ctx.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'register', kind: 'import' } })).json().id as number;
  const completions = async () =>
    (await ctx.app.inject({ url: `/sessions/${session}/completions?limit=10000` })).json().items as CompletionRecord[];
  return { ...ctx, url, session, completions };
}

test('register: which connect() calls are TCP, and which go to the service itself (pure)', () => {
  assert.deepEqual(tcpConnectTarget([[{ port: 80, host: 'x' }, () => {}]]), { port: 80, host: 'x' });
  assert.equal(tcpConnectTarget([[{ path: '/tmp/s.sock' }, null]]), null);
  assert.deepEqual(tcpConnectTarget([8080]), { port: 8080, host: 'localhost' });
  assert.deepEqual(tcpConnectTarget(['8080', '10.0.0.1']), { port: 8080, host: '10.0.0.1' });
  assert.equal(tcpConnectTarget(['/tmp/s.sock']), null);
  assert.equal(tcpConnectTarget([]), null);
  const service = new URL('http://127.0.0.1:7878');
  assert.equal(isServiceConnection({ port: 7878, host: '127.0.0.1' }, service), true);
  assert.equal(isServiceConnection({ port: 7878, host: 'localhost' }, service), true);
  assert.equal(isServiceConnection({ port: 7879, host: '127.0.0.1' }, service), false);
  assert.equal(isServiceConnection({ port: 7878, host: 'example.org' }, service), false);
});

test('register: an unchanged Node client gets a record per write, tiling what the receiver read', async () => {
  const svc = await serviceWithSession();
  const ends: { remote: string; bytes: number }[] = [];
  const receiver = await startReceiver({ port: 0, onConnectionEnd: (e) => ends.push(e) });
  try {
    const writes = 500;
    const run = runNode(program('plain-client.mjs'), [String(receiver.port), String(writes)], {
      ACKSCOPE_SESSION: String(svc.session),
      ACKSCOPE_URL: svc.url,
    });
    const { code, stderr } = await run.exited;
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /not posted|failed/);
    while (ends.length === 0) await new Promise((r) => setTimeout(r, 10));
    const records = await svc.completions();
    assert.equal(records.length, writes, 'one record per write() (end() without data writes nothing)');
    assert.ok(records.every((r) => r.api === 'node:socket.write'));
    assertTiles(records, ends[0].bytes);
  } finally {
    await receiver.close();
    await svc.close();
  }
});

test('register: an unchanged Node server is instrumented before its connection listener writes', async () => {
  const svc = await serviceWithSession();
  try {
    const bytes = 300_000;
    const run = runNode(program('plain-server.mjs'), [String(bytes)], { ACKSCOPE_SESSION: String(svc.session), ACKSCOPE_URL: svc.url });
    const [line] = (await once(run.child.stdout!, 'data')) as [Buffer];
    const socket = connect(Number(line.toString().trim()), '127.0.0.1');
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    await once(socket, 'end');
    const { code, stderr } = await run.exited;
    assert.equal(code, 0, stderr);
    assert.equal(received, bytes);
    const records = await svc.completions();
    assert.equal(records.length, 2, 'the write and the end(data)');
    assert.equal(records[0].offsetStart, 0, 'the first write, made inside the connection listener, is recorded');
    assertTiles(records, received);
  } finally {
    await svc.close();
  }
});

test('register: without ACKSCOPE_SESSION the program runs unchanged and is told why nothing is recorded', async () => {
  const receiver = await startReceiver({ port: 0 });
  try {
    const run = runNode(program('plain-client.mjs'), [String(receiver.port), '10'], { ACKSCOPE_SESSION: '' });
    const { code, stderr } = await run.exited;
    assert.equal(code, 0);
    assert.match(stderr, /ACKSCOPE_SESSION is not a session id/);
  } finally {
    await receiver.close();
  }
});

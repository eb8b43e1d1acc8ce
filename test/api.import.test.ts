/**
 * Import through the real HTTP API: pcap files written by tcpdump from real loopback
 * traffic this test makes, checked frame by frame against tshark; the exported pcapng
 * read back by tshark; malformed, truncated and oversized files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testApp, tempDir } from './helpers/app.js';
import { tcpdumpCapture } from './helpers/tcpdump.js';
import type { App } from '../service/app.js';
import { storeMatrix } from './helpers/stores.js';

/** Each test below runs on both stores (test/helpers/stores.ts). */
const STORES = storeMatrix();

function tsharkFields(file: string): string[] {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return out.trim().split('\n');
}

function tsharkFrameCount(file: string): number {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.trim() === '' ? 0 : out.trim().split('\n').length;
}

async function newImportSession(app: App): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'import', kind: 'import' } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id;
}

async function allFrames(app: App, id: number): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/sessions/${id}/frames?limit=50${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { items: Record<string, unknown>[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

for (const { store, testApp } of STORES) {
  for (const nanoseconds of [false, true]) {
    test(`[${store}] a tcpdump ${nanoseconds ? 'ns' : 'µs'} pcap imports frame by frame as tshark reads it, and exports back`, async () => {
      const t = await testApp();
      try {
        const file = await tcpdumpCapture(t.dir, nanoseconds);
        const id = await newImportSession(t.app);
        const res = await t.app.inject({
          method: 'POST',
          url: `/sessions/${id}/import?filename=capture.pcap`,
          headers: { 'content-type': 'application/vnd.tcpdump.pcap' },
          payload: readFileSync(file),
        });
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json();
        const expected = tsharkFields(file);
        assert.ok(expected.length > 30, `tshark saw ${expected.length} TCP frames`);
        assert.equal(body.import.tcp, expected.length);
        assert.equal(body.import.flows, 3);
        assert.equal(body.session.state, 'stopped');
        assert.equal(body.session.counts.frames, tsharkFrameCount(file));

        const frames = await allFrames(t.app, id);
        const ours = frames.map((f) => `${f.frameNo}\t${f.seqRaw}\t${f.ackRaw}\t${f.payloadLen}`);
        assert.deepEqual(ours, expected);

        // offsets: every client flow carried 40 writes of 5000..5039 bytes from offset 0
        const flows = (await t.app.inject({ url: `/sessions/${id}/flows` })).json().items;
        for (const flow of flows) {
          assert.equal(flow.a.synSeen, true);
          assert.equal(flow.a.bytes, 40 * 5000 + (39 * 40) / 2);
          const last = frames.filter((f) => f.flowId === flow.id && f.dir === 1 && f.ackOff !== null).at(-1)!;
          assert.equal(last.ackOff, flow.a.bytes + 1, 'the last ACK covers every byte and the FIN');
        }
        // nanosecond files keep their nanoseconds
        const tsFirst = execFileSync('tshark', ['-r', file, '-c', '1', '-T', 'fields', '-e', 'frame.time_epoch'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
        assert.equal(frames[0].tsNs, tsFirst.replace('.', '').replace(/^0+/, ''));

        const exported = await t.app.inject({ url: `/sessions/${id}/export/capture.pcapng` });
        assert.equal(exported.statusCode, 200);
        assert.equal(exported.headers['content-type'], 'application/x-pcapng');
        const back = join(t.dir, 'back.pcapng');
        writeFileSync(back, exported.rawPayload);
        assert.equal(tsharkFrameCount(back), body.session.counts.frames);
        assert.deepEqual(tsharkFields(back), expected);

        const again = await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: readFileSync(file) });
        assert.equal(again.statusCode, 409);
        assert.equal(again.json().error.code, 'ACKSCOPE_ERR_SESSION_STATE');
      } finally {
        await t.close();
      }
    });
  }
}

for (const { store, testApp } of STORES) {
  test(`[${store}] tcpdump -i any (Linux cooked capture) of IPv6 loopback traffic agrees with tshark frame by frame`, async () => {
    const t = await testApp();
    try {
      const file = await tcpdumpCapture(t.dir, true, { device: 'any', host: '::1' });
      const id = await newImportSession(t.app);
      const res = await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: readFileSync(file) });
      assert.equal(res.statusCode, 200, res.body);
      const session = res.json().session;
      assert.ok([113, 276].includes(session.linkType), `link type ${session.linkType}`);
      const expected = tsharkFields(file);
      assert.ok(expected.length > 30);
      const frames = await allFrames(t.app, id);
      assert.deepEqual(frames.map((f) => `${f.frameNo}\t${f.seqRaw}\t${f.ackRaw}\t${f.payloadLen}`), expected);
      const flows = (await t.app.inject({ url: `/sessions/${id}/flows` })).json().items;
      assert.equal(flows.length, 3);
      for (const flow of flows) {
        assert.equal(flow.ipVersion, 6);
        assert.equal(flow.a.addr, '::1');
        assert.equal(flow.a.bytes, 40 * 5000 + (39 * 40) / 2);
      }
    } finally {
      await t.close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] a file cut in the middle of a record is refused with its byte offset, and nothing is kept`, async () => {
    const t = await testApp();
    try {
      const file = await tcpdumpCapture(t.dir, false);
      const whole = readFileSync(file);
      const cut = whole.subarray(0, whole.length - 10);
      const id = await newImportSession(t.app);
      const res = await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: cut });
      assert.equal(res.statusCode, 400, res.body);
      const err = res.json().error;
      assert.equal(err.code, 'ACKSCOPE_ERR_CAPTURE_FILE');
      assert.match(err.message, /byte \d+: the file ends inside a record/);
      assert.ok(Number(err.details.byteOffset) > 24);
      const session = (await t.app.inject({ url: `/sessions/${id}` })).json();
      assert.equal(session.state, 'created');
      assert.equal(session.counts.frames, 0);
      assert.deepEqual((await t.app.inject({ url: `/sessions/${id}/frames` })).json().items, []);
      assert.deepEqual((await t.app.inject({ url: `/sessions/${id}/flows` })).json().items, []);
      assert.equal((await t.app.inject({ url: `/sessions/${id}/export/capture.pcapng` })).statusCode, 404);
      // the same session takes the whole file afterwards
      const ok = await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: whole });
      assert.equal(ok.statusCode, 200, ok.body);
    } finally {
      await t.close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] a body that is no capture file gets 400 naming the magic; a live session gets 409`, async () => {
    const t = await testApp();
    try {
      const id = await newImportSession(t.app);
      const res = await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from('hello, this is text') });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().error.code, 'ACKSCOPE_ERR_CAPTURE_FILE');
      assert.match(res.json().error.message, /byte 0: first four bytes 0x68656c6c/);
      const live = await t.app.inject({
        method: 'POST',
        url: '/sessions',
        payload: { name: 'live', kind: 'live', interface: 'lo' },
      });
      const liveRes = await t.app.inject({ method: 'POST', url: `/sessions/${live.json().id}/import`, payload: Buffer.alloc(30) });
      assert.equal(liveRes.statusCode, 409);
      assert.equal(liveRes.json().error.code, 'ACKSCOPE_ERR_SESSION_KIND');
    } finally {
      await t.close();
    }
  });
}

for (const { store, testApp } of STORES) {
  test(`[${store}] a file over the configured size limit gets 413 and leaves nothing`, async () => {
    const { app, dir, close } = await testApp(undefined, { maxImportBytes: 1000 });
    const d = { dir };
    try {
      const file = await tcpdumpCapture(d.dir, false);
      const res0 = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import' } });
      const id = res0.json().id;
      const res = await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: readFileSync(file) });
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().error.code, 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE');
      assert.equal((await app.inject({ url: `/sessions/${id}` })).json().counts.frames, 0);
      // a streamed body without a declared length is cut at the limit too
      const { Readable } = await import('node:stream');
      const streamed = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/import`,
        payload: Readable.from([readFileSync(file)]),
      });
      assert.equal(streamed.statusCode, 413);
      assert.deepEqual((await app.inject({ url: `/sessions/${id}/flows` })).json().items, []);
    } finally {
      await close();
    }
  });
}

test('a file sent as application/json is imported, not parsed; deleting the session removes its frames', async () => {
  const t = await testApp();
  try {
    const file = await tcpdumpCapture(t.dir, false);
    const id = await newImportSession(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: `/sessions/${id}/import`,
      headers: { 'content-type': 'application/json' },
      payload: readFileSync(file),
    });
    assert.equal(res.statusCode, 200, res.body);
    const other = await newImportSession(t.app);
    assert.equal((await t.app.inject({ method: 'POST', url: `/sessions/${other}/import`, payload: readFileSync(file) })).statusCode, 200);
    const count = (sql: string, ...args: unknown[]) => t.app.db.prepare(sql).pluck().get(...args) as number;
    const before = count('SELECT COUNT(*) FROM frames WHERE session_id = ?', other);
    assert.ok(count('SELECT COUNT(*) FROM frames WHERE session_id = ?', id) > 0);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/sessions/${id}` })).statusCode, 204);
    assert.equal(count('SELECT COUNT(*) FROM frames WHERE session_id = ?', id), 0);
    assert.equal(count('SELECT COUNT(*) FROM flows WHERE session_id = ?', id), 0);
    assert.equal(count('SELECT COUNT(*) FROM frames WHERE session_id = ?', other), before, 'other sessions keep theirs');
  } finally {
    await t.close();
  }
});

for (const { store, testApp } of STORES) {
  test(`[${store}] frames filter by flow and time range, page by cursor`, async () => {
    const t = await testApp();
    try {
      const file = await tcpdumpCapture(t.dir, false);
      const id = await newImportSession(t.app);
      assert.equal((await t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: readFileSync(file) })).statusCode, 200);
      const all = await allFrames(t.app, id);
      const flows = (await t.app.inject({ url: `/sessions/${id}/flows?limit=1` })).json();
      assert.equal(flows.items.length, 1);
      assert.ok(flows.nextCursor);
      const second = (await t.app.inject({ url: `/sessions/${id}/flows?limit=1&cursor=${flows.nextCursor}` })).json().items[0];
      const ofFlow = (await t.app.inject({ url: `/sessions/${id}/frames?flowId=${second.id}&limit=10000` })).json().items;
      assert.deepEqual(ofFlow, all.filter((f) => f.flowId === second.id));
      const from = BigInt(all[10].tsNs as string);
      const to = BigInt(all[20].tsNs as string);
      const inRange = (await t.app.inject({ url: `/sessions/${id}/frames?fromNs=${from}&toNs=${to}&limit=10000` })).json().items;
      assert.deepEqual(inRange, all.filter((f) => BigInt(f.tsNs as string) >= from && BigInt(f.tsNs as string) < to));
      assert.equal((await t.app.inject({ url: `/sessions/${id}/frames?cursor=abc` })).statusCode, 400);
      assert.equal((await t.app.inject({ url: `/sessions/999/frames` })).statusCode, 404);
    } finally {
      await t.close();
    }
  });
}

test('a client that hangs up mid-upload leaves the session as it was', async () => {
  const { request } = await import('node:http');
  const t = await testApp();
  try {
    const file = readFileSync(await tcpdumpCapture(t.dir, false));
    const id = await newImportSession(t.app);
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => {
      const req = request(`${url}/sessions/${id}/import`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': file.length },
      });
      req.on('error', () => resolve());
      req.write(file.subarray(0, Math.floor(file.length / 2)), () => setTimeout(() => req.destroy(), 200));
    });
    // the service notices the abort and cleans up
    let session = (await t.app.inject({ url: `/sessions/${id}` })).json();
    for (let i = 0; i < 50 && session.state !== 'created'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      session = (await t.app.inject({ url: `/sessions/${id}` })).json();
    }
    assert.equal(session.state, 'created');
    assert.equal(session.counts.frames, 0);
    assert.equal(t.app.db.prepare('SELECT COUNT(*) FROM frames').pluck().get(), 0);
    assert.equal(t.app.db.prepare('SELECT COUNT(*) FROM flows').pluck().get(), 0, 'flows are stored as they appear: removed too');
    assert.equal((await t.app.inject({ url: `/sessions/${id}/export/capture.pcapng` })).statusCode, 404);
  } finally {
    await t.close();
  }
});

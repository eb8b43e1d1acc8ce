// The addon's live capture on its own (no worker, no SQLite), as root on `lo`: kernel
// timestamps on CLOCK_REALTIME, batches bounded as asked, close() delivering every
// frame already captured, a slow consumer pushing back on the kernel (bounded queue,
// drops counted), libpcap's errors mapped to codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync, spawn } from 'node:child_process';
import { forEachFrame, openLive, realtimeNs, type LiveOptions } from '../capture/native/index.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AckscopeError } from '../core/errors.js';
import { runFlatOutSender } from '../fixtures/flat-out-sender.js';

interface Seen {
  tsNs: bigint;
  srcPort: number;
  flags: number;
  seq: number;
  payload: number;
}

/** Just enough Ethernet/IPv4/TCP to check the capture (the real decoder is capture/decode). */
function parseTcp(bytes: Buffer, at: number, caplen: number, tsNs: bigint): Seen | null {
  if (caplen < 14 + 20 + 20 || bytes.readUInt16BE(at + 12) !== 0x0800) return null;
  const ip = at + 14;
  const ihl = (bytes[ip] & 0x0f) * 4;
  if (bytes[ip + 9] !== 6) return null;
  const tcp = ip + ihl;
  const dataOffset = (bytes[tcp + 12] >> 4) * 4;
  return {
    tsNs,
    srcPort: bytes.readUInt16BE(tcp),
    flags: bytes[tcp + 13],
    seq: bytes.readUInt32BE(tcp + 4),
    payload: bytes.readUInt16BE(ip + 2) - ihl - dataOffset,
  };
}

/** Captures one TCP conversation on lo with `options`; returns what was seen and sent. */
async function captureConversation(options: Partial<LiveOptions>, writes: number[]) {
  let received = 0;
  const total = writes.reduce((a, b) => a + b, 0);
  const server = net.createServer((s) => s.on('data', (c) => (received += c.length)).on('end', () => s.end()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;

  const seen: Seen[] = [];
  const batchSizes: number[] = [];
  let ends = 0;
  let errors = 0;
  const capture = openLive(
    { device: 'lo', filter: `tcp port ${port}`, ...options },
    {
      onBatch(records, frames) {
        batchSizes.push(frames);
        const walked = forEachFrame(records, (tsNs, caplen, wirelen, bytes, at) => {
          assert.equal(caplen, wirelen, 'snaplen covers whole frames');
          const s = parseTcp(bytes, at, caplen, tsNs);
          if (s) seen.push(s);
        });
        assert.equal(walked, frames, 'the record count the addon announced');
      },
      onError: () => errors++,
      onEnd: () => ends++,
    },
  );
  const before = realtimeNs();
  const client = net.connect(port, '127.0.0.1');
  client.setNoDelay(true);
  await once(client, 'connect');
  const clientPort = client.localPort!;
  for (const size of writes) client.write(Buffer.alloc(size, 1));
  client.end();
  await once(client, 'close');
  const after = realtimeNs();
  // No pause: close() itself must collect what the kernel already holds.
  await capture.close();
  const stats = capture.stats();
  server.close();
  assert.equal(received, total);
  return { seen, batchSizes, ends, errors, stats, before, after, clientPort, total, capture };
}

test('every frame of a conversation arrives, kernel-stamped on CLOCK_REALTIME, by the time close() resolves', async () => {
  const writes = [10, 1000, 30000, 5, 70000, 1];
  const r = await captureConversation({}, writes);
  assert.equal(r.ends, 1, 'onEnd once');
  assert.equal(r.errors, 0);
  const fromClient = r.seen.filter((s) => s.srcPort === r.clientPort);
  const fromServer = r.seen.filter((s) => s.srcPort !== r.clientPort);
  // Payload bytes of distinct sequence numbers: what the client wrote.
  const bySeq = new Map(fromClient.filter((s) => s.payload > 0).map((s) => [s.seq, s.payload]));
  assert.equal([...bySeq.values()].reduce((a, b) => a + b, 0), r.total);
  assert.ok(fromClient.some((s) => s.flags & 0x01) && fromServer.some((s) => s.flags & 0x01), 'both FINs captured');
  assert.ok(fromClient[0].flags & 0x02, 'the SYN first');
  for (const s of r.seen) {
    assert.ok(s.tsNs >= r.before && s.tsNs <= r.after, `frame stamp ${s.tsNs} outside [${r.before}, ${r.after}]`);
  }
  for (let i = 1; i < r.seen.length; i++) assert.ok(r.seen[i].tsNs >= r.seen[i - 1].tsNs);
  assert.equal(r.stats.dropped, 0);
  assert.ok(r.stats.received >= r.seen.length);
  assert.equal(r.capture.linkType, 1);
  await r.capture.close(); // a second close is harmless
});

test('batches respect the frame bound; immediate mode captures the same', async () => {
  const writes = Array.from({ length: 40 }, () => 100);
  const bounded = await captureConversation({ batchFrames: 4 }, writes);
  assert.ok(bounded.batchSizes.length > 1);
  assert.ok(bounded.batchSizes.every((n) => n >= 1 && n <= 4), `batch sizes ${bounded.batchSizes}`);
  const immediate = await captureConversation({ immediate: true }, writes);
  const payload = (r: typeof bounded) =>
    r.seen.filter((s) => s.srcPort === r.clientPort).reduce((a, s) => a + s.payload, 0);
  assert.equal(payload(bounded), 4000);
  assert.equal(payload(immediate), 4000);
});

test('a lone frame reaches JavaScript without more traffic and without close()', async () => {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  listener.close(); // the port is now closed: a connect gets SYN, RST and nothing more
  await once(listener, 'close');
  let frames = 0;
  const capture = openLive({ device: 'lo', filter: `tcp port ${port}` }, { onBatch: (_r, n) => (frames += n), onError() {}, onEnd() {} });
  try {
    const probe = net.connect(port, '127.0.0.1');
    await once(probe, 'error');
    // batchDelayMs (20) after the frame, not whenever the next frame or close() comes.
    for (let i = 0; i < 500 && frames < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(frames, 2, 'SYN and RST delivered while the capture keeps running');
  } finally {
    await capture.close();
  }
});

test('a consumer slower than the capture pushes back: at most queueBatches wait, the loop turns between batches, the kernel counts every frame not delivered', async () => {
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const filter = `tcp port ${port}`;
  // The witness: tcpdump counting the same filter with a ring far larger than the traffic.
  const tcpdump = spawn('tcpdump', ['-i', 'lo', '-n', '-B', '131072', '-w', '/dev/null', filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let tcpdumpSays = '';
  tcpdump.stderr.on('data', (c: Buffer) => (tcpdumpSays += c.toString()));
  for (let i = 0; i < 500 && !/listening on/.test(tcpdumpSays); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(tcpdumpSays, /listening on/);

  const queueBatches = 2;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let delivered = 0;
  let maxQueued = 0;
  let batches = 0;
  let turnedBetween = 0;
  let loopTurned = true;
  const capture = openLive(
    { device: 'lo', filter, snaplen: 128, bufferSize: 1 << 20, batchFrames: 32, queueBatches },
    {
      onBatch(_records, frames) {
        batches++;
        if (loopTurned) turnedBetween++;
        loopTurned = false;
        setImmediate(() => (loopTurned = true));
        delivered += frames;
        maxQueued = Math.max(maxQueued, capture.stats().queuedBatches);
        Atomics.wait(pause, 0, 0, 3); // a slow consumer: ~10 000 frames/s at most
      },
      onError() {},
      onEnd() {},
    },
  );
  await runFlatOutSender(port, 2, 64, 1);
  await capture.close();
  const stats = capture.stats();
  tcpdump.kill('SIGINT');
  await once(tcpdump, 'exit');
  const witnessed = Number(/(\d+) packets? captured/.exec(tcpdumpSays)?.[1]);
  assert.match(tcpdumpSays, /\b0 packets dropped by kernel/, 'the witness saw every packet');

  assert.ok(maxQueued <= queueBatches, `at most ${queueBatches} batches waited (saw ${maxQueued})`);
  assert.equal(turnedBetween, batches, 'the event loop turned between every two batches');
  assert.ok(delivered < witnessed, `the consumer fell behind (${delivered} of ${witnessed} frames)`);
  assert.ok(stats.dropped > 0, 'the kernel counted drops');
  // On lo the kernel also counts dropped outgoing copies, so drops may exceed what is missing.
  assert.ok(delivered + stats.dropped >= witnessed, `${delivered} delivered + ${stats.dropped} dropped >= ${witnessed} seen by tcpdump`);
});

test('libpcap errors map to codes and keep libpcap message', () => {
  const noop = { onBatch() {}, onError() {}, onEnd() {} };
  assert.throws(
    () => openLive({ device: 'ackscope-none0' }, noop),
    (e: unknown) => e instanceof AckscopeError && e.code === 'ACKSCOPE_ERR_CAPTURE_INTERFACE' && /ackscope-none0/.test(e.message),
  );
  assert.throws(
    () => openLive({ device: 'lo', filter: 'tcp and and' }, noop),
    (e: unknown) => e instanceof AckscopeError && e.code === 'ACKSCOPE_ERR_CAPTURE_FILTER' && /syntax error/.test(e.message),
  );
  assert.throws(
    () => openLive({ device: 'lo', batchFrames: 0 }, noop),
    (e: unknown) => e instanceof AckscopeError && e.code === 'ACKSCOPE_ERR_VALIDATION',
  );
});

test('a process without capture privileges gets ACKSCOPE_ERR_CAPTURE_PERMISSION', () => {
  const index = pathToFileURL(fileURLToPath(new URL('../capture/native/index.ts', import.meta.url))).href;
  const script = `import(${JSON.stringify(index)}).then(({ openLive }) => {
    try { openLive({ device: 'lo' }, { onBatch() {}, onError() {}, onEnd() {} }); console.log('{"code":"opened"}'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  }, (e) => console.log(JSON.stringify({ code: 'cannot-load', message: e.message })));`;
  // root with every capability dropped (CAP_NET_RAW among them); staying uid 0 keeps the
  // checkout readable wherever CI cloned it
  const out = execFileSync(
    'setpriv',
    ['--inh-caps=-all', '--bounding-set=-all', process.execPath, '--import', 'tsx', '-e', script],
    { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) },
  );
  const result = JSON.parse(out.trim().split('\n').pop()!);
  assert.equal(result.code, 'ACKSCOPE_ERR_CAPTURE_PERMISSION', out);
  assert.match(result.message, /not permitted|permission/i);
});

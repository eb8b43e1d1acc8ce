import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runCSender, type CSenderOptions, type CSenderRun } from '../sender/c/run.js';
import { runProcess } from '../sender/c/wine.js';
import { testApp } from './helpers/app.js';
import { startResettingReceiver, startTestReceiver } from './helpers/test-receiver.js';
import { ensureWineSender } from './helpers/wine.js';
import { requireLiveCapture } from './helpers/require.js';
import { assertContiguous, isPartial } from './helpers/completion-checks.js';
import { assertAgreesWithWire, compareWithWire, startTcpdump, wireComparisonLine, wireEvents, type CorrelationJson, type WireEvents } from './helpers/wire.js';

/**
 * The whole chain for the C senders, on loopback as root: a live session captures `lo`,
 * ackscope-send-posix / ackscope-send-winsock.exe (under Wine) send to `ackscope receive`,
 * `ackscope ingest` posts their NDJSON, and the correlation accounts for every completion.
 * Stages are measured, not assumed: each is checked against an independent witness,
 * tcpdump's capture of the same traffic decoded by tshark, at the sender's own
 * completion time.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
let ctx: Awaited<ReturnType<typeof testApp>>;
let url: string;

before(async () => {
  requireLiveCapture();
  ctx = await testApp();
  url = await ctx.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await ctx?.close();
});

interface ChainResult {
  run: CSenderRun;
  summary: Json;
  items: Json[];
  /** tcpdump's view of the same connection (tshark-decoded), null when the sender made none. */
  wire: WireEvents | null;
}

/** Session → capture → sender → stop → `ackscope ingest` → summary and every correlation. */
async function captureSendIngest(
  name: string,
  sender: Omit<CSenderOptions, 'target'>,
  receiver: { readDelayMs?: number; resetAfterBytes?: number } = {},
): Promise<ChainResult> {
  const sink =
    receiver.resetAfterBytes === undefined
      ? await startTestReceiver({ readDelayMs: receiver.readDelayMs })
      : { ...(await startResettingReceiver(receiver.resetAfterBytes)), connectionsEnded: async () => {} };
  const pcap = join(ctx.dir, `${name}.witness.pcap`);
  const dump = await startTcpdump('lo', pcap, `tcp port ${sink.port}`, undefined, { nanoseconds: true });
  try {
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name, kind: 'live', interface: 'lo', filter: `tcp port ${sink.port}` },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { id: number }).id;
    const started = await ctx.app.inject({ method: 'POST', url: `/sessions/${id}/start` });
    assert.equal(started.statusCode, 200, started.body);

    const run = await runCSender({ ...sender, target: `127.0.0.1:${sink.port}`, outPath: join(ctx.dir, `${name}.ndjson`) });
    await sink.connectionsEnded(1);
    const stopped = await ctx.app.inject({ method: 'POST', url: `/sessions/${id}/stop` });
    assert.equal(stopped.statusCode, 200, stopped.body);
    assert.equal(await dump.stop(), 0, 'tcpdump (the witness) dropped nothing');

    const ingest = await runProcess(process.execPath, ['--import', 'tsx', cli, 'ingest', run.outPath, '--session', String(id), '--url', url], {
      timeoutMs: 120_000,
    });
    assert.equal(ingest.code, 0, ingest.stderr);
    assert.deepEqual(JSON.parse(ingest.stdout), { received: run.records.length, stored: run.records.length, duplicates: 0 });

    const summary = (await ctx.app.inject({ url: `/sessions/${id}/summary` })).json() as Json;
    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; body: string; json: () => unknown } = await ctx.app.inject({
        url: `/sessions/${id}/correlations?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { items: Json[]; nextCursor: string | null };
      items.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    const srcPort = run.records[0]?.flow.srcPort;
    return { run, summary, items, wire: srcPort === undefined ? null : await wireEvents(pcap, srcPort) };
  } finally {
    await dump.stop();
    await sink.close();
  }
}

/** What every chain must show: every completion staged from evidence, the wire in order. */
function assertChain({ run, summary, items, wire }: ChainResult, writes: number): Json {
  assert.equal(summary.overall.completions, run.records.length);
  assert.equal(summary.capture.drops.dropped, 0, 'libpcap dropped nothing');
  assert.deepEqual(summary.overall.unknownReasons, {}, 'the capture saw every byte of every completion');
  const flows = (summary.flows as Json[]).filter((f) => f.completions > 0);
  assert.equal(flows.length, 1, 'one connection, found in the capture');
  assert.equal(flows[0].ordering.verdict, 'in-order', JSON.stringify(flows[0].ordering));
  assert.equal(flows[0].ordering.writesSeen, writes, 'every tag whole on the wire');

  assert.equal(items.length, run.records.length);
  for (const r of items) {
    assert.notEqual(r.flowId, null);
    assert.notEqual(r.stage, 'unknown', `write ${r.writeId}: a stage`);
    const first = BigInt(r.firstWireNs);
    const last = BigInt(r.lastWireNs);
    const acked = BigInt(r.ackedNs);
    assert.ok(first <= last && last <= acked, `write ${r.writeId}: first ≤ last wire ≤ ack`);
    assert.ok(BigInt(r.submittedNs) <= first, `write ${r.writeId}: nothing leaves before the call`);
  }
  // the stage is the one tcpdump's frames give at the sender's completion time
  assert.ok(wire, 'tcpdump saw the connection');
  const c = compareWithWire(items as CorrelationJson[], wire);
  assertAgreesWithWire(c, items.length);
  console.log(`# ${wireComparisonLine(c)}`);
  const stages = Object.fromEntries(Object.entries(summary.overall.stages as Record<string, { count: number }>).map(([k, v]) => [k, v.count]));
  return stages;
}

test('POSIX overlapped vectored sends, small SO_SNDBUF, slow sink: partial completions recorded and counted, wire in order', async () => {
  const count = 40;
  const chain = await captureSendIngest(
    'posix-partial',
    { kind: 'posix', count, size: 65536, mode: 'overlapped', buffers: 4, sndbuf: 4096, tag: true },
    { readDelayMs: 2 },
  );
  assertContiguous(chain.run.records);
  const partial = chain.run.records.filter(isPartial).length;
  assert.ok(partial > 0, 'short returns on a non-blocking socket with an ~8 KiB send buffer');
  assert.equal(chain.summary.overall.partial.verdict, 'found');
  assert.equal(chain.summary.overall.partial.partial, partial, 'the verdict counts every short return');
  const stages = assertChain(chain, count);
  console.log(`# posix overlapped sndbuf=4096: ${chain.run.records.length} records for ${count} writes, ${partial} partial; stages ${JSON.stringify(stages)}`);
});

test('POSIX blocking serial sends: no partial completion, wire in order', async () => {
  const count = 60;
  const chain = await captureSendIngest('posix-serial', { kind: 'posix', count, size: [1000, 30000], mode: 'serial', buffers: 2, tag: true });
  assert.equal(chain.run.records.length, count);
  assert.equal(chain.summary.overall.partial.verdict, 'none');
  const stages = assertChain(chain, count);
  console.log(`# posix serial: ${count} records, 0 partial; stages ${JSON.stringify(stages)}`);
});

test('Winsock overlapped WSASend/IOCP under Wine: every completion whole and staged, wire in order', async () => {
  await ensureWineSender();
  const count = 60;
  const chain = await captureSendIngest('winsock', {
    kind: 'winsock',
    count,
    size: [1000, 30000, 65536],
    mode: 'overlapped',
    window: 8,
    buffers: 3,
    sndbuf: 0,
    tag: true,
  });
  assert.equal(chain.run.records.length, count);
  assert.equal(chain.summary.overall.partial.verdict, 'none');
  assert.ok(chain.items.every((r) => r.api === 'winsock:WSASend'));
  const stages = assertChain(chain, count);
  console.log(`# winsock overlapped window=8 sndbuf=0: ${count} records, 0 partial; stages ${JSON.stringify(stages)}`);
});

for (const kind of ['posix', 'winsock'] as const) {
  test(`${kind}: a peer reset mid-transfer shows in the partial verdict with the error's name`, async () => {
    if (kind === 'winsock') await ensureWineSender();
    const chain = await captureSendIngest(
      `${kind}-reset`,
      // POSIX blocking: no short return before the reset, so the error's record is among the verdict's examples
      { kind, count: 500, size: 65536, mode: kind === 'posix' ? 'serial' : 'overlapped', window: 4, sndbuf: 16384, tag: true },
      { resetAfterBytes: 300_000 },
    );
    assert.equal(chain.run.exitCode, 3);
    const failed = chain.run.records.filter((r) => r.status !== 'ok');
    assert.ok(failed.length >= 1 && failed.every(isPartial));
    const verdict = chain.summary.overall.partial as Json;
    assert.equal(verdict.verdict, 'found');
    assert.equal(verdict.partial, chain.run.records.filter(isPartial).length);
    const errorName = kind === 'posix' ? /^(ECONNRESET|EPIPE)$/ : /^WSAECONNRESET$/;
    assert.ok(
      (verdict.examples as Json[]).some((e) => errorName.test(e.status) && e.bytesReported < e.length),
      JSON.stringify(verdict.examples),
    );
    console.log(`# ${kind} reset: ${chain.run.records.length} records, ${failed.length} failed (${[...new Set(failed.map((r) => r.status))].join(', ')})`);
  });
}

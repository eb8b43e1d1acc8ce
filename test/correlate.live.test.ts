// End to end on a live loopback capture (root, libpcap): the service captures `lo`,
// `ackscope send --tag` writes to a sink and posts its completions, and the correlation
// must account for every completion. Stages are measured, not assumed (docs/design-notes.md:
// on lo a completion can already be acked): each is checked against an independent
// witness, tcpdump's capture of the same traffic decoded by tshark, and the sender's own
// completion time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testApp } from './helpers/app.js';
import { startReceiver } from '../sender/receiver.js';
import { nativeAvailable } from '../capture/native/index.js';
import { assertAgreesWithWire, compareWithWire, startTcpdump, wireComparisonLine, wireEvents, wireStage, type CorrelationJson } from './helpers/wire.js';

const run = promisify(execFile);
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('live loopback: ackscope send --tag, captured on lo, correlated', async () => {
  assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh)');
  assert.equal(process.getuid?.(), 0, 'live capture needs root');
  const { app, dir, close } = await testApp();
  const sink = await startReceiver({ port: 0, host: '127.0.0.1' });
  const pcap = `${dir}/witness.pcap`;
  const dump = await startTcpdump('lo', pcap, `tcp port ${sink.port}`, undefined, { nanoseconds: true });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const created = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'e2e', kind: 'live', interface: 'lo', filter: `tcp port ${sink.port}` },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;
    const started = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
    assert.equal(started.statusCode, 200, started.body);

    const count = 300;
    const { stdout } = await run(process.execPath, [
      '--import', 'tsx', 'cli/ackscope.ts', 'send', `127.0.0.1:${sink.port}`,
      '--count', String(count), '--size', '1k,16k,100k', '--mode', 'overlapped', '--window', '8', '--tag',
      '--session', String(id), '--url', url, '--json',
    ]);
    assert.equal(JSON.parse(stdout.trim().split('\n').pop()!).sessionId, id);
    const stopped = await app.inject({ method: 'POST', url: `/sessions/${id}/stop` });
    assert.equal(stopped.statusCode, 200, stopped.body);
    assert.equal(await dump.stop(), 0, 'tcpdump (the witness) dropped nothing');

    const summary = (await app.inject({ url: `/sessions/${id}/summary` })).json() as Json;
    assert.equal(summary.overall.completions, count);
    assert.equal(summary.capture.drops.dropped, 0, 'libpcap dropped nothing');
    assert.deepEqual(summary.overall.unknownReasons, {}, 'the capture saw every write');
    const stageTotal = Object.values(summary.overall.stages as Record<string, { count: number }>).reduce((n, s) => n + s.count, 0);
    assert.equal(stageTotal, count);
    const flows = (summary.flows as Json[]).filter((f) => f.completions > 0);
    assert.equal(flows.length, 1, 'one connection');
    assert.equal(flows[0].ordering.verdict, 'in-order', JSON.stringify(flows[0].ordering));
    assert.equal(flows[0].ordering.writesSeen, count);
    assert.equal(summary.overall.partial.verdict, 'none');

    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; body: string; json: () => Json } = await app.inject({ url: `/sessions/${id}/correlations?limit=100${cursor ? `&cursor=${cursor}` : ''}` });
      assert.equal(res.statusCode, 200, res.body);
      items.push(...res.json().items);
      cursor = res.json().nextCursor;
    } while (cursor);
    assert.equal(items.length, count);
    // tcpdump's view of the same frames, named in any failure below
    const wire = await wireEvents(pcap, items[0].flow.srcPort);
    for (const r of items) {
      // the evidence hangs together (ackscope's own times)...
      const w = () => {
        const seen = wireStage(wire, r.offsetStart, r.offsetStart + r.bytesReported, BigInt(r.completedNs));
        return `ackscope first/last/ack ${r.firstWireNs}/${r.lastWireNs}/${r.ackedNs} (${r.stage}, retransmitted ${r.retransmitted}); tcpdump ${seen.firstNs}/${seen.lastNs}/${seen.ackNs} (${seen.stage})`;
      };
      assert.ok(BigInt(r.firstWireNs) <= BigInt(r.lastWireNs) && BigInt(r.lastWireNs) <= BigInt(r.ackedNs), `write ${r.writeId}: first ≤ last wire ≤ ack: ${w()}`);
      assert.ok(BigInt(r.submittedNs) <= BigInt(r.firstWireNs), `write ${r.writeId}: nothing leaves before the send call: ${w()}`);
    }
    // ...and the stage is the one tcpdump's frames give at the sender's completion time
    const c = compareWithWire(items as CorrelationJson[], wire);
    assertAgreesWithWire(c, count);
    console.log(`# live lo: ${wireComparisonLine(c)}`);
    const trace = (await app.inject({ url: `/sessions/${id}/export/trace.json` })).json() as Json;
    const slices = (trace.traceEvents as Json[]).filter((e) => e.ph === 'X');
    assert.equal(slices.length, count);
  } finally {
    await dump.stop();
    await sink.close();
    await close();
  }
});

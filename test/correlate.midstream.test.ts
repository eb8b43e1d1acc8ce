// A live capture that starts while a connection is already sending (root, libpcap, tcpdump,
// tshark). `ackscope send --tag` writes paced, tagged writes to a receiver on lo; tcpdump
// watches the connection from its SYN; ackscope's own live capture is started only after
// the receiver has read a few hundred KB, so it never sees the SYN. The write tags must
// align the sender's offsets with the capture's, and every write the capture saw leave must
// get the stage tcpdump's frames (decoded by tshark) give it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testApp } from './helpers/app.js';
import { startTestReceiver } from './helpers/test-receiver.js';
import { requireLiveCapture } from './helpers/require.js';
import { assertAgreesWithWire, compareWithWire, startTcpdump, wireComparisonLine, wireEvents, type CorrelationJson } from './helpers/wire.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('a live capture started mid-stream: tags align the offsets, stages agree with tcpdump from the SYN', async () => {
  requireLiveCapture();
  const { app, dir, close } = await testApp();
  const receiver = await startTestReceiver();
  const pcap = join(dir, 'witness.pcap');
  const dump = await startTcpdump('lo', pcap, `tcp port ${receiver.port}`, undefined, { nanoseconds: true });
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const created = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'mid-stream', kind: 'live', interface: 'lo', filter: `tcp port ${receiver.port}` },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;

    const count = 300;
    const sending = run(process.execPath, [
      '--import', 'tsx', 'cli/ackscope.ts', 'send', `127.0.0.1:${receiver.port}`,
      '--count', String(count), '--size', '1k,16k,60k', '--rate', '100', '--tag', '--session', String(id), '--url', url, '--json',
    ]);
    // the capture starts once the connection is well under way (about a third of the bytes)
    for (let i = 0; i < 3000 && receiver.received() < 500_000; i++) await sleep(10);
    assert.ok(receiver.received() >= 500_000, 'the sender got going before the capture started');
    const started = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
    assert.equal(started.statusCode, 200, started.body);
    await sending;
    await receiver.connectionsEnded(1);
    await sleep(200);
    assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/stop` })).statusCode, 200);
    assert.equal(await dump.stop(), 0, 'tcpdump dropped nothing');

    const summary = (await app.inject({ url: `/sessions/${id}/summary` })).json() as Json;
    assert.equal(summary.overall.completions, count);
    assert.equal(summary.capture.drops.dropped, 0, 'libpcap dropped nothing');
    const flows = (summary.flows as Json[]).filter((f) => f.flowId !== null);
    assert.equal(flows.length, 1, 'one connection, found although its SYN was not captured');
    assert.equal(flows[0].ordering.verdict, 'in-order', JSON.stringify(flows[0].ordering));
    assert.ok(flows[0].ordering.writesSeen > 0 && flows[0].ordering.writesSeen < count, `tags seen from mid-stream on: ${flows[0].ordering.writesSeen}`);

    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; body: string; json: () => Json } = await app.inject({ url: `/sessions/${id}/correlations?limit=1000${cursor ? `&cursor=${cursor}` : ''}` });
      assert.equal(res.statusCode, 200, res.body);
      items.push(...res.json().items);
      cursor = res.json().nextCursor;
    } while (cursor);
    assert.equal(items.length, count);

    const wire = await wireEvents(pcap, items[0].flow.srcPort);
    const c = compareWithWire(items as CorrelationJson[], wire, BigInt(summary.capture.startNs));
    // how many writes come after the start depends on how fast the capture starts on a
    // loaded machine; the check needs enough of them to mean something
    assertAgreesWithWire(c, count / 10);
    console.log(`# mid-stream: ${wireComparisonLine(c)}; ackscope's stages ${JSON.stringify(summary.overall.stages)}`);
  } finally {
    await dump.stop();
    await receiver.close();
    await close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { withRig } from '../experiment/rig.js';
import { collectTrace, TraceFeed } from '../tracer/index.js';
import { storeMatrix } from './helpers/stores.js';
import type { CorrelationT } from '../service/schemas/correlation.js';
import { startRigReceiver } from './helpers/rig-receiver.js';

/**
 * The ladder behind the rig's 20 Mbit/s tbf bottleneck, as root: an unchanged Python
 * client in the sender's namespace, traced by the kernel tracer. The first write of an
 * idle connection is passed down at once and waits in the tbf queue when the call returns
 * (`qdisc`); writes that block on a full send buffer return as soon as their bytes are
 * copied in, long before TCP passes them down (`socket`). Witness: the receiver's own byte
 * count for the tiling; the kernel's moments are the tracer's.
 */
/** The trace is taken once; its records and witnesses are posted to each store (one body). */
const STORES = storeMatrix();

const CLIENT = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"a" * 16384)
for i in range(64):
    s.sendall(b"b" * 16384)
s.close()
`;

test('trace behind tbf (posted to either store): writes waiting in the tbf queue are qdisc, writes blocked on the send buffer are socket', async () => {
  assert.equal(process.getuid?.(), 0, 'the rig and the tracer need root');
  await withRig({ bottleneck: { rateBps: 20e6, limitBytes: 200_000 } }, async (rig) => {
    const port = 5002;
    const { received } = await startRigReceiver(rig, port);

    const cmd = rig.command('sender', 'python3', ['-c', CLIENT, rig.receiver.addr, String(port)]);
    const { events, result } = await collectTrace({ command: [cmd.file, ...cmd.args] }, { commandStdio: 'ignore', lingerMs: 500 });
    assert.equal(result.exit?.exitCode, 0, result.stderr);
    const bytes = await received;

    const feed = new TraceFeed();
    for (const e of events) feed.add(e);
    const taken = feed.take();
    assert.equal(taken.lost, 0, 'no event lost');
    const answers: Record<string, CorrelationT[]> = {};
    for (const { store, testApp } of STORES) {
      const { app, close } = await testApp();
      try {
        const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'tbf', kind: 'import' } })).json().id;
        const posted = await app.inject({ method: 'POST', url: `/sessions/${session}/completions`, payload: taken.records });
        assert.equal(posted.statusCode, 200, posted.body);
        const witnessed = await app.inject({ method: 'POST', url: `/sessions/${session}/kernel-witness`, payload: { witnesses: taken.witnesses } });
        assert.equal(witnessed.statusCode, 200, witnessed.body);
        const items = (await app.inject({ url: `/sessions/${session}/correlations?limit=1000` })).json().items as CorrelationT[];
        items.sort((a, b) => a.writeId - b.writeId);
        assert.equal(items.at(-1)!.offsetEnd, bytes, 'the traced calls tile what the receiver read');
        assert.equal(bytes, 65 * 16384);
        const stages = items.map((c) => c.stage);
        // No capture here: the kernel witness decides. In 2 of 4 full-suite runs here (never
        // alone) it left a run of 4 middle writes undecided; those must stay unknown (never a
        // stage from anything else), and they must stay few.
        const notByKernel = items.filter((c) => c.decidedBy !== 'kernel');
        const described = notByKernel.map((c) => `${c.writeId}: ${c.stage} by ${c.decidedBy} (${c.reason}; kernel ${JSON.stringify(c.kernel)})`);
        assert.ok(notByKernel.every((c) => c.stage === 'unknown'), `[${store}] a write the kernel did not decide is unknown: ${described.join('; ')}`);
        assert.ok(notByKernel.length <= items.length / 10, `[${store}] the kernel witness decides nearly every write: ${described.join('; ')}`);
        // Before the send buffer fills, a call returns while its bytes wait in tbf: qdisc. On
        // a loaded machine the first call or two can return only after their bytes went
        // through tbf's initial burst and were acked (the thread was off the CPU), so the
        // first qdisc write need not be write 0, but it comes before any blocked (socket) one.
        const firstQdisc = stages.indexOf('qdisc');
        assert.ok(firstQdisc >= 0 && firstQdisc < 5, `[${store}] the first writes wait in tbf when their call returns (stages: ${stages.join(' ')})`);
        assert.ok(!stages.slice(0, firstQdisc).includes('socket'), `[${store}] no write blocked on the send buffer before one waits in tbf (stages: ${stages.join(' ')})`);
        assert.ok(stages.filter((s) => s === 'socket').length >= 10, `[${store}] writes blocked on the send buffer return before TCP passes them down (stages: ${stages.join(' ')})`);
        // the qdisc write's own kernel moments bracket its completion: in tbf (queued) when it returned, not yet at the driver
        const q = items[firstQdisc];
        assert.ok(BigInt(q.kernel!.qdiscInNs!) <= BigInt(q.completedNs) && BigInt(q.completedNs) < BigInt(q.kernel!.driverNs!));
        answers[store] = items;
      } finally {
        await close();
      }
    }
    assert.deepEqual(answers.clickhouse, answers.sqlite, 'the same stage for every write on either store');
  });
});

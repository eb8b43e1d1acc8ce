import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../sender/c/wine.js';
import { withRig, type Rig } from '../experiment/rig.js';
import { runCSender, type CSenderKind } from '../sender/c/run.js';
import { tempDir } from './helpers/app.js';
import { ensureWineSender } from './helpers/wine.js';
import { requireLiveCapture, requireRoot } from './helpers/require.js';
import { startTcpdump, sentStream, walkTags } from './helpers/wire.js';
import { assertContiguous, assertTagsMatchRecords, isPartial } from './helpers/completion-checks.js';

/**
 * The C senders inside the experiment rig's sender namespace, through a 20 Mbit/s tbf
 * bottleneck with SO_SNDBUF 0 (the smallest the kernel allows): the socket must live in
 * the namespace (for Winsock under Wine that means a wineserver started in there), every
 * write reach the wire whole and in order, and short completions show only where the API
 * allows them (non-blocking POSIX send).
 */

/** A read-and-discard receiver inside the receiver namespace; resolves with its port. */
async function startReceiverIn(rig: Rig): Promise<number> {
  const script =
    "const s=require('net').createServer(c=>{c.on('data',()=>{});c.on('error',()=>{})})" +
    ".listen(0,process.argv[1],()=>console.log(s.address().port))";
  const child = rig.spawn('receiver', process.execPath, ['-e', script, rig.receiver.addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) return Number(line);
  throw new Error('receiver exited before listening');
}

for (const kind of ['posix', 'winsock'] as CSenderKind[]) {
  test(`${kind} sender in the rig's namespace, 20 Mbit/s tbf, SO_SNDBUF 0: writes whole and in order on the wire`, async () => {
    requireRoot('the rig');
    if (kind === 'winsock') await ensureWineSender();
    const t = tempDir();
    try {
      await withRig({ bottleneck: { rateBps: 20e6 } }, async (rig) => {
        const port = await startReceiverIn(rig);
        const pcap = join(t.dir, 'wire.pcap');
        const dump = await startTcpdump(rig.sender.iface, pcap, `tcp port ${port}`, rig.sender.netns!);
        const count = 24;
        const run = await runCSender({
          kind,
          netns: rig.sender.netns!,
          target: `${rig.receiver.addr}:${port}`,
          count,
          size: 65536,
          mode: 'overlapped',
          window: 8,
          buffers: 2,
          sndbuf: 0,
          tag: true,
        });
        assert.equal(await dump.stop(), 0, 'tcpdump dropped nothing');
        assert.equal(run.exitCode, 0);
        const first = run.records[0];
        assert.equal(first.flow.srcAddr, rig.sender.addr, "the socket lived in the sender's namespace");
        assert.equal(first.flow.dstAddr, rig.receiver.addr);
        assertContiguous(run.records);
        const partial = run.records.filter(isPartial).length;
        if (kind === 'winsock') assert.equal(partial, 0, 'no WSASend completes short');
        assert.equal(run.records.length, count + partial);

        const wire = await sentStream(pcap, first.flow.srcPort);
        assert.equal(wire.holes, 0);
        const walk = walkTags(wire.bytes);
        assert.equal(walk.brokenAt, null);
        assertTagsMatchRecords(walk.tags, run.records, Array(count).fill(65536));
        const qdisc = await rig.qdiscStats('sender');
        console.log(
          `# ${kind} rig 20 Mbit/s sndbuf=0: ${run.records.length} records for ${count} writes, ${partial} partial, ` +
            `${Math.round(run.ms)} ms; tbf overlimits ${qdisc.overlimits}, drops ${qdisc.drops}`,
        );
      });
    } finally {
      t.cleanup();
    }
  });
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test('through `ackscope experiment` (live capture inside the rig, correlation): POSIX and Winsock points at 20 Mbit/s, SO_SNDBUF 0', async () => {
  requireLiveCapture();
  await ensureWineSender();
  const t = tempDir();
  try {
    const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
    const count = 40;
    const r = await runProcess(
      process.execPath,
      [
        '--import', 'tsx', cli, 'experiment', '--out', join(t.dir, 'report'), '--db', join(t.dir, 'a.db'),
        '--senders', 'posix,winsock', '--modes', 'overlapped:8', '--sizes', '16384', '--sndbufs', '0',
        '--rates', '20mbit', '--receivers', 'reads', '--count', String(count), '--progress', 'lines',
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const results = (JSON.parse(readFileSync(join(t.dir, 'report', 'results.json'), 'utf8')) as { results: Json[] }).results;
    assert.deepEqual(results.map((p) => [p.point.sender, p.status]), [['posix', 'ok'], ['winsock', 'ok']]);
    for (const p of results) {
      const m = p.measurement as Json;
      assert.equal(m.stages.unknown, 0, `${p.point.label}: every completion staged`);
      assert.equal(m.ordering.verdict, 'in-order');
      assert.equal(m.ordering.writesChecked, count);
      assert.equal(m.pcapDropped, 0);
      // one record per call: each write, plus one per short return (POSIX non-blocking only)
      assert.equal(m.completions, count + m.partial.count);
      if (p.point.sender === 'winsock') assert.equal(m.partial.count, 0, 'no WSASend completed short');
      console.log(`# experiment ${p.point.label}: ${m.completions} completions, ${m.partial.count} partial, stages ${JSON.stringify(m.stages)}`);
    }
  } finally {
    t.cleanup();
  }
});

/**
 * The C senders on loopback: send calls per second of ackscope-send-posix and of
 * ackscope-send-winsock.exe under Wine (overlapped, 1 KiB writes, to an in-process sink),
 * and what starting a Windows program under Wine costs. Prints figures; asserts nothing.
 *
 *   node --import tsx bench/c-senders.ts [--count 20000] [--size 1024] [--window 8]
 */
import { parseArgs } from 'node:util';
import { cSenderBinary } from '../sender/c/paths.js';
import { runCSender, type CSenderKind } from '../sender/c/run.js';
import { cloneDir, clonePrefix, findWine, prepareWinePrefix, removePrefixClone, runProcess } from '../sender/c/wine.js';
import { startReceiver } from '../sender/receiver.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    size: { type: 'string', default: '1024' },
    window: { type: 'string', default: '8' },
  },
});
const count = Number(values.count);
const size = Number(values.size);
const window = Number(values.window);

async function sendRate(kind: CSenderKind): Promise<void> {
  const sink = await startReceiver({ port: 0 });
  try {
    const run = await runCSender({ kind, target: `127.0.0.1:${sink.port}`, count, size, mode: 'overlapped', window, tag: true });
    const first = BigInt(run.records.reduce((a, r) => (BigInt(r.submittedNs) < BigInt(a) ? r.submittedNs : a), run.records[0].submittedNs));
    const last = BigInt(run.records.reduce((a, r) => (BigInt(r.completedNs) > BigInt(a) ? r.completedNs : a), run.records[0].completedNs));
    const seconds = Number(last - first) / 1e9;
    console.log(
      `${kind.padEnd(8)} ${run.records.length} records (${run.totals.partial} partial) in ${seconds.toFixed(3)} s of sending ` +
        `= ${Math.round(run.records.length / seconds)} calls/s, ${((run.totals.bytes * 8) / seconds / 1e6).toFixed(0)} Mbit/s; ` +
        `process wall ${Math.round(run.ms)} ms`,
    );
  } finally {
    await sink.close();
  }
}

console.log(`overlapped, ${size}-byte writes, window ${window}, ${count} writes, --tag, loopback`);
await sendRate('posix');
const wine = findWine();
if (!wine) {
  console.log('winsock  skipped: Wine is not installed (apt-get install wine wine64)');
} else {
  const prefix = await prepareWinePrefix(wine);
  console.log(`wine prefix ${prefix.created ? `created in ${Math.round(prefix.ms)} ms` : 'ready'} (${wine.prefix})`);
  await sendRate('winsock');
  const clone = clonePrefix(wine, cloneDir(wine, 'bench'));
  try {
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await runProcess(clone.loader, [cSenderBinary('winsock'), '--help'], { env: clone.env, timeoutMs: 60_000 });
      starts.push(Math.round(r.ms));
    }
    console.log(`wine program start (--help): ${starts[0]} ms with no wineserver, then ${starts.slice(1).join(', ')} ms with one`);
  } finally {
    await removePrefixClone(clone);
  }
}

/**
 * The ceiling of completion ingest on this machine: each half of POST /sessions/:id/completions
 * timed alone on one thread, with no HTTP, no client and no hand-over between threads.
 *
 * - read: the request thread's work — the NDJSON bytes split into lines and each read by the
 *   fast path (core/completion-line.ts) into a validated row, packed into typed columns
 *   (core/completion-columns.ts);
 * - store: the ingest worker's work — those packed batches staged and stored in one
 *   transaction (db/completion-staging.ts, the packed path) into a fresh SQLite file.
 *
 * The service runs the halves on two threads at once, so its records/s can be no more than
 * 1 / (the slower half's µs/record), on a machine with a core free for each and none for
 * the client. bench/ingest.ts measures the real thing. Prints figures, asserts nothing.
 *
 *   node --import tsx bench/ingest-ceiling.ts [records=500000] [flows=4] [rounds=3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { CompletionStaging } from '../db/completion-staging.js';
import { CompletionPacker, type PackedCompletions } from '../core/completion-columns.js';
import { parseCompletionSpan } from '../core/completion-line.js';
import { LineSplitter } from '../service/ndjson-lines.js';
import { senderFormRecord } from '../fixtures/records.js';

const total = Number(process.argv[2] ?? 500_000);
const flows = Number(process.argv[3] ?? 4);
const rounds = Number(process.argv[4] ?? 3);

/** The upload's body in 1 MiB chunks, records as bench/ingest.ts writes them (the Node sender's form). */
function body(): Buffer[] {
  const lines: string[] = [];
  for (let i = 0; i < total; i++) lines.push(JSON.stringify(senderFormRecord(i, flows)));
  const all = Buffer.from(lines.join('\n') + '\n');
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += 1 << 20) chunks.push(all.subarray(at, at + (1 << 20)));
  return chunks;
}

/** Thread CPU seconds (this benchmark runs each half on the main thread). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function read(chunks: Buffer[]): PackedCompletions[] {
  const splitter = new LineSplitter(1 << 20);
  const packer = new CompletionPacker();
  const addresses = new Map<string, string>();
  const batches: PackedCompletions[] = [];
  let index = 0;
  const onSpan = (text: string, start: number, end: number): void => {
    const row = parseCompletionSpan(text, start, end, index++, addresses);
    if (row === undefined) throw new Error(`record ${index - 1} is not in the fast path's form`);
    const full = packer.add(row);
    if (full) batches.push(full);
  };
  for (const chunk of chunks) splitter.pushSpans(chunk, onSpan);
  splitter.end((line) => onSpan(line, 0, line.length));
  const last = packer.end();
  if (last) batches.push(last);
  return batches;
}

const chunks = body();
const bytes = chunks.reduce((n, c) => n + c.length, 0);
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-ingest-ceiling-'));
console.log(`${total} records (${(bytes / 1e6).toFixed(1)} MB of NDJSON), ${flows} flows, ${rounds} rounds; each half alone on this thread`);
const readUs: number[] = [];
const storeUs: number[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    let cpu = cpuSeconds();
    let wall = performance.now();
    const batches = read(chunks);
    const readCpu = cpuSeconds() - cpu;
    const readWall = (performance.now() - wall) / 1000;

    const db = openDatabase(join(dir, `round-${round}.db`));
    const session = createSession(db, { name: 'ceiling', kind: 'import' });
    cpu = cpuSeconds();
    wall = performance.now();
    const staging = new CompletionStaging(db, session.id);
    for (const b of batches) staging.add(b);
    const result = staging.commit();
    const storeCpu = cpuSeconds() - cpu;
    const storeWall = (performance.now() - wall) / 1000;
    db.close();
    if (result.stored !== total) throw new Error(`stored ${result.stored} of ${total}`);

    readUs.push((readCpu * 1e6) / total);
    storeUs.push((storeCpu * 1e6) / total);
    console.log(
      `  round ${round + 1}: read ${readWall.toFixed(2)} s wall, ${readUs.at(-1)!.toFixed(2)} µs/record CPU (${Math.round(total / readWall)} records/s); ` +
        `store ${storeWall.toFixed(2)} s wall, ${storeUs.at(-1)!.toFixed(2)} µs/record CPU (${Math.round(total / storeWall)} records/s)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const best = (xs: number[]) => Math.min(...xs);
const slower = Math.max(best(readUs), best(storeUs));
console.log(
  `best: read ${best(readUs).toFixed(2)} µs/record, store ${best(storeUs).toFixed(2)} µs/record: ` +
    `two threads can take at most ${Math.round(1e6 / slower)} records/s, one thread ${Math.round(1e6 / (best(readUs) + best(storeUs)))}`,
);
console.log(`load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

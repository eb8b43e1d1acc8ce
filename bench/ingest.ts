/**
 * Ingest speed: completion records per second accepted by POST /sessions/:id/completions
 * over a real listening socket (parse, validate, one transaction, idempotency index),
 * into a fresh SQLite file, from a client in its own process: NDJSON on 4 flows, NDJSON
 * on 100 flows, and the same records as one JSON array (read element by element).
 * Prints figures and the machine's load, asserts nothing. Besides records per second
 * (wall clock: on a shared machine it follows the load) it prints the service process's
 * CPU per record, all its threads (the ingest worker's included), which the load moves
 * far less, and that CPU split by thread: the request thread (parsing, validating,
 * packing), the busiest other thread (the ingest worker: staging and storing) and the
 * rest (V8's GC helpers, libuv), read from /proc/self/task/<tid>/stat (10 ms ticks).
 *
 * Each scenario runs twice in the same run: the anchor, staging rows in a temp table with
 * parameters bound per row (ACKSCOPE_INGEST_PACKED=0), then packed (each batch one BLOB
 * read by the SQLite extension packed_completions, db/completion-staging.ts), each on a
 * service of its own (its ingest worker takes the environment it starts with).
 *
 *   node --import tsx bench/ingest.ts [records=500000] [paths=temp-table,packed]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../service/app.js';
import { senderFormRecord } from '../fixtures/records.js';

const total = Number(process.argv[2] ?? 500_000);
const paths = (process.argv[3] ?? 'temp-table,packed').split(',');
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-ingest-'));
/** Records as the Node sender makes them (tcpInfo included), round-robin over `flows` flows. */
async function writeRecords(file: string, flows: number, asArray: boolean): Promise<number> {
  const out = createWriteStream(file);
  let lines: string[] = [];
  let first = true;
  for (let i = 0; i < total; i++) {
    lines.push(JSON.stringify(senderFormRecord(i, flows)));
    if (lines.length === 2000 || i === total - 1) {
      const text = asArray ? (first ? '[' : ',') + lines.join(',') + (i === total - 1 ? ']' : '') : lines.join('\n') + '\n';
      first = false;
      if (!out.write(text)) await once(out, 'drain');
      lines = [];
    }
  }
  out.end();
  await once(out, 'finish');
  return statSync(file).size;
}

/** CPU time so far of each of this process's threads, µs, by thread id (Linux /proc). */
function threadCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
      out.set(Number(tid), ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND); // utime, stime
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** µs per record by thread between two threadCpu() readings: request thread, busiest other, the rest. */
function cpuSplit(before: Map<number, number>, after: Map<number, number>, records: number): string {
  const used = [...after].map(([tid, us]) => [tid, us - (before.get(tid) ?? 0)] as const);
  const main = used.find(([tid]) => tid === process.pid)?.[1] ?? 0;
  const others = used.filter(([tid]) => tid !== process.pid).map(([, us]) => us).sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  const rest = others.slice(1).reduce((a, b) => a + b, 0);
  const per = (us: number) => (us / records).toFixed(2);
  return `request thread ${per(main)}, worker ${per(busiest)}, other threads ${per(rest)} µs/record`;
}

// The client: streams the file as one chunked POST and prints {ms, status, body}.
const client = `
  const http = require('node:http'), fs = require('node:fs');
  const [port, path, file, type] = process.argv.slice(1);
  const start = process.hrtime.bigint();
  const req = http.request({ host: '127.0.0.1', port: Number(port), method: 'POST', path,
    headers: { 'content-type': type } }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - start) / 1e6, status: res.statusCode, body })));
  });
  fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
`;

// Records are written to a file up front so generating them is not measured; a separate
// client process streams the file (as `ackscope ingest` or curl would), so the server's
// event loop does only the ingest.
const scenarios = [[4, false], [100, false], [4, true]] as const;
const files = new Map<string, { file: string; bytes: number }>();
for (const [flows, asArray] of scenarios) {
  const file = join(dir, `records-${flows}-${asArray ? 'array' : 'ndjson'}`);
  files.set(file, { file, bytes: await writeRecords(file, flows, asArray) });
}
for (const path of paths) {
  process.env.ACKSCOPE_INGEST_PACKED = path === 'packed' ? '1' : '0';
  const dbPath = join(dir, `bench-${path}.db`);
  const app = await buildApp({ dbPath, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  for (const [flows, asArray] of scenarios) {
    const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'import' } })).json().id;
    const { file, bytes } = files.get(join(dir, `records-${flows}-${asArray ? 'array' : 'ndjson'}`))!;
    const type = asArray ? 'application/json' : 'application/x-ndjson';
    const child = spawn(process.execPath, ['-e', client, String(port), `/sessions/${session}/completions`, file, type], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    const cpuBefore = process.cpuUsage();
    const threadsBefore = threadCpu();
    await once(child, 'exit');
    const cpu = process.cpuUsage(cpuBefore);
    const threads = cpuSplit(threadsBefore, threadCpu(), total);
    const reply = JSON.parse(output) as { ms: number; status: number; body: string };
    const seconds = reply.ms / 1000;
    console.log(
      `${path}: ${asArray ? 'JSON array' : 'NDJSON'}, ${flows} flows: HTTP ${reply.status}; ${total} records, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s: ` +
        `${Math.round(total / seconds)} records/s (${(bytes / 1e6 / seconds).toFixed(1)} MB/s); ` +
        `service CPU ${((cpu.user + cpu.system) / total).toFixed(2)} µs/record (${threads}); load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );
  }
  await app.close();
  console.log(`${path}: database ${(statSync(dbPath).size / 1e6).toFixed(0)} MB + WAL`);
}
rmSync(dir, { recursive: true, force: true });

/**
 * Ingest speed: completion records per second accepted by POST /sessions/:id/completions
 * over a real listening socket (parse, validate, one transaction, idempotency index),
 * into a fresh SQLite file, from a client in its own process: NDJSON on 4 flows, NDJSON
 * on 100 flows, and the same records as one JSON array (read element by element).
 * Prints figures and the machine's load, asserts nothing. Besides records per second
 * (wall clock: on a shared machine it follows the load) it prints the service process's
 * CPU per record, all its threads (the ingest worker's included), which the load moves
 * far less.
 *
 *   node --import tsx bench/ingest.ts [records=500000]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../service/app.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

const total = Number(process.argv[2] ?? 500_000);
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-ingest-'));
const app = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;
/** Records as the Node sender makes them (tcpInfo included), round-robin over `flows` flows. */
async function writeRecords(file: string, flows: number, asArray: boolean): Promise<number> {
  const out = createWriteStream(file);
  let lines: string[] = [];
  let first = true;
  for (let i = 0; i < total; i++) {
    const flow = i % flows;
    const id = Math.floor(i / flows);
    lines.push(
      JSON.stringify(
        completionRecord(
          { writeId: id, srcPort: 40000 + flow, writeBytes: 1024, submittedNs: BASE_NS + BigInt(i) * 2000n, takesNs: 1500n },
          {
            writeReturned: 1,
            writableLength: 0,
            tcpInfo: { bytesSent: (id + 1) * 1024, bytesAcked: id * 1024, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 20 },
          },
        ),
      ),
    );
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
for (const [flows, asArray] of [[4, false], [100, false], [4, true]] as const) {
  const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'import' } })).json().id;
  const file = join(dir, `records-${flows}-${asArray ? 'array' : 'ndjson'}`);
  const bytes = await writeRecords(file, flows, asArray);
  const type = asArray ? 'application/json' : 'application/x-ndjson';
  const child = spawn(process.execPath, ['-e', client, String(port), `/sessions/${session}/completions`, file, type], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  const cpuBefore = process.cpuUsage();
  await once(child, 'exit');
  const cpu = process.cpuUsage(cpuBefore);
  const reply = JSON.parse(output) as { ms: number; status: number; body: string };
  const seconds = reply.ms / 1000;
  console.log(
    `${asArray ? 'JSON array' : 'NDJSON'}, ${flows} flows: HTTP ${reply.status}; ${total} records, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s: ` +
      `${Math.round(total / seconds)} records/s (${(bytes / 1e6 / seconds).toFixed(1)} MB/s); ` +
      `service CPU ${((cpu.user + cpu.system) / total).toFixed(2)} µs/record; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  rmSync(file);
}
console.log(`database ${(statSync(join(dir, 'bench.db')).size / 1e6).toFixed(0)} MB + WAL`);
await app.close();
rmSync(dir, { recursive: true, force: true });

/**
 * Ingest speed: completion records per second accepted by POST /sessions/:id/completions
 * as an NDJSON stream over a real listening socket (parse, validate, one transaction,
 * idempotency index), into a fresh SQLite file. Prints figures, asserts nothing.
 *
 *   node --import tsx bench/ingest.ts [records=500000]
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../service/app.js';

const total = Number(process.argv[2] ?? 500_000);
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-ingest-'));
const app = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;
const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'import' } })).json().id;

// Records as the Node sender makes them (tcpInfo included), on 4 flows, prepared up front
// so generating them is not measured.
const base = 1764061234123456789n;
const chunks: Buffer[] = [];
let lines: string[] = [];
for (let i = 0; i < total; i++) {
  const flow = i & 3;
  const id = i >> 2;
  lines.push(
    JSON.stringify({
      flow: { srcAddr: '127.0.0.1', srcPort: 40000 + flow, dstAddr: '127.0.0.1', dstPort: 7000 },
      writeId: id,
      offsetStart: id * 1024,
      offsetEnd: (id + 1) * 1024,
      submittedNs: String(base + BigInt(i) * 2000n),
      completedNs: String(base + BigInt(i) * 2000n + 1500n),
      bytesReported: 1024,
      api: 'node:socket.write',
      buffers: 1,
      status: 'ok',
      writeReturned: 1,
      writableLength: 0,
      tcpInfo: { bytesSent: (id + 1) * 1024, bytesAcked: id * 1024, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 20 },
    }),
  );
  if (lines.length === 2000) {
    chunks.push(Buffer.from(lines.join('\n') + '\n'));
    lines = [];
  }
}
if (lines.length) chunks.push(Buffer.from(lines.join('\n') + '\n'));
const bytes = chunks.reduce((n, c) => n + c.length, 0);

const start = process.hrtime.bigint();
const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
  const req = request(
    { host: '127.0.0.1', port, method: 'POST', path: `/sessions/${session}/completions`, headers: { 'content-type': 'application/x-ndjson' } },
    (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    },
  );
  req.on('error', reject);
  let next = 0;
  const pump = () => {
    while (next < chunks.length) if (!req.write(chunks[next++])) return void req.once('drain', pump);
    req.end();
  };
  pump();
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`POST /completions NDJSON: HTTP ${reply.status} ${reply.body}`);
console.log(
  `${total} records, ${(bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} records/s ` +
    `(${(bytes / 1e6 / seconds).toFixed(1)} MB/s); database ${(statSync(join(dir, 'bench.db')).size / 1e6).toFixed(0)} MB + WAL`,
);
await app.close();
rmSync(dir, { recursive: true, force: true });

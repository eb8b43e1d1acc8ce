import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
const variant = process.argv[2];
for (const s of ['', '-wal', '-shm']) rmSync('/tmp/cc/sql2.db' + s, { force: true });
const db = new Database('/tmp/cc/sql2.db');
db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE frames (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, frame_no INTEGER NOT NULL, flow_id INTEGER NOT NULL, dir INTEGER NOT NULL, ts_ns INTEGER NOT NULL, caplen INTEGER NOT NULL, wirelen INTEGER NOT NULL, tcp_flags INTEGER NOT NULL, seq_raw INTEGER NOT NULL, ack_raw INTEGER NOT NULL, seq_off INTEGER NOT NULL, payload_len INTEGER NOT NULL, ack_off INTEGER, window INTEGER NOT NULL, retransmit INTEGER NOT NULL DEFAULT 0, sent_max INTEGER NOT NULL, acked_max INTEGER, sent_advanced INTEGER NOT NULL DEFAULT 0, ack_advanced INTEGER NOT NULL DEFAULT 0, sack_count INTEGER NOT NULL DEFAULT 0, file_offset INTEGER);
`);
const IDX: Record<string,string> = { plain: 'CREATE INDEX a ON frames (flow_id, dir, sent_max) WHERE sent_advanced = 1; CREATE INDEX b ON frames (flow_id, dir, acked_max) WHERE ack_advanced = 1;', one: 'CREATE INDEX a ON frames (flow_id, dir, sent_max) WHERE sent_advanced = 1;', full: 'CREATE INDEX a ON frames (flow_id, dir, sent_max);', flowonly: 'CREATE INDEX a ON frames (flow_id);', ts: 'CREATE INDEX a ON frames (ts_ns);', none: '' };
db.exec(IDX[variant] ?? IDX.plain);
const NC = 22, R = 100;
const one = '(' + Array(NC).fill('?').join(',') + ')';
const stmt = db.prepare(`INSERT INTO frames VALUES ${Array(R).fill(one).join(',')}`);
const N = Number(process.argv[3] ?? 200000); const flows = 449;
const sent = new Array(flows).fill(0), acked = new Array(flows).fill(0);
const rows: unknown[][] = [];
for (let i = 1; i <= N; i++) {
  const f = i % flows; const data = i % 3 !== 0;
  if (data) sent[f] += 1448; else acked[f] = sent[f];
  rows.push([4294967296 + i, 1, i, f + 1, data ? 0 : 1, 1764000000000000000n + BigInt(i * 3000), 96, 1514, 0x18, 123456789 + i, 987654321, sent[f] - 1448, data ? 1448 : 0, data ? 0 : acked[f], 65535, 0, sent[f], data ? 0 : acked[f], data ? 1 : 0, data ? 0 : 1, 0, i * 112]);
}
const BATCH = 20000;
const c0 = process.cpuUsage(); const t0 = performance.now();
if (variant === 'deferred') {
  const adv: number[][] = [];
  for (const r of rows) { if (r[18] === 1) adv.push([r[3] as number, r[4] as number, r[16] as number, r[0] as number, 0]); if (r[19] === 1) adv.push([r[3] as number, r[4] as number, r[17] as number, r[0] as number, 1]); r[18] = 0; r[19] = 0; }
  const tx0 = db.transaction((batch: unknown[][]) => { for (let i = 0; i + R <= batch.length; i += R) stmt.run(batch.slice(i, i + R).flat()); });
  for (let i = 0; i < rows.length; i += BATCH) tx0(rows.slice(i, i + BATCH));
  const t05 = performance.now();
  const us = db.prepare('UPDATE frames SET sent_advanced = 1 WHERE id = ?');
  const ua = db.prepare('UPDATE frames SET ack_advanced = 1 WHERE id = ?');
  adv.sort((x, y) => x[4] - y[4] || x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || x[3] - y[3]);
  db.transaction(() => { for (const a of adv) (a[4] === 0 ? us : ua).run(a[3]); })();
  const t1 = performance.now(); const cu = process.cpuUsage(c0);
  console.log(variant, N, 'wall', Math.round(N / ((t1 - t0) / 1000)), 'cpu', Math.round(N / ((cu.user + cu.system) / 1e6)), 'insert part ms', Math.round(t05 - t0), 'update part ms', Math.round(t1 - t05));
  const q = db.prepare('SELECT id FROM frames WHERE flow_id = ? AND dir = 0 AND sent_advanced = 1 AND sent_max >= ? ORDER BY sent_max LIMIT 1');
  console.log(q.get(5, 100000), db.prepare('EXPLAIN QUERY PLAN SELECT id FROM frames WHERE flow_id = ? AND dir = 0 AND sent_advanced = 1 AND sent_max >= ? ORDER BY sent_max LIMIT 1').all(5, 1));
  process.exit(0);
}
const tx = db.transaction((batch: unknown[][]) => {
  if (variant === 'sorted') batch.sort((x, y) => (x[3] as number) - (y[3] as number) || (x[4] as number) - (y[4] as number) || (x[0] as number) - (y[0] as number));
  for (let i = 0; i + R <= batch.length; i += R) stmt.run(batch.slice(i, i + R).flat());
});
for (let i = 0; i < rows.length; i += BATCH) tx(rows.slice(i, i + BATCH));
const t1 = performance.now(); const cu = process.cpuUsage(c0);
console.log(variant, N, 'wall', Math.round(N / ((t1 - t0) / 1000)), 'cpu', Math.round(N / ((cu.user + cu.system) / 1e6)));

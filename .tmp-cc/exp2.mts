import { createReadStream, rmSync, mkdirSync } from 'node:fs';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { importCapture } from '../capture/import.js';
const [file, variant] = process.argv.slice(2);
rmSync('/tmp/cc/exp2', { recursive: true, force: true }); mkdirSync('/tmp/cc/exp2');
const db = openDatabase('/tmp/cc/exp2/a.db');
if (variant.includes('ckpt')) db.pragma('wal_autocheckpoint = 100000');
if (variant.includes('noidx')) db.exec('DROP INDEX frames_first_sent; DROP INDEX frames_first_ack; DROP INDEX frames_retransmits;');
const s = createSession(db, { name: 'x', kind: 'import' });
const c0 = process.cpuUsage(); const t0 = performance.now();
const r = await importCapture(db, s.id, createReadStream(file, { highWaterMark: 1 << 20 }), { captureFile: variant.includes('nofile') ? undefined : '/tmp/cc/exp2/c.pcapng', batchFrames: variant.includes('big') ? 100000 : undefined });
if (variant.includes('ckpt')) { db.pragma('wal_autocheckpoint = 1000'); db.pragma('wal_checkpoint(PASSIVE)'); }
const t1 = performance.now(); const cu = process.cpuUsage(c0);
console.log(variant, 'wall', Math.round(r.counters.frames / ((t1 - t0) / 1000)), 'cpu', Math.round(r.counters.frames / ((cu.user + cu.system) / 1e6)));

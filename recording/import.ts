/**
 * Importing a pcap/pcapng byte stream into a session: reader → (pktmon copy filter) →
 * the frame writer's two halves — FramePacker (decode, track, pack) on this thread,
 * FrameRowWriter (SQLite) on a writer thread of the import's own (recording/import-writer.ts)
 * or, for small files and databases in memory, on this thread too — and a pcapng copy of
 * every packet kept as the session's raw capture. The API route and bench/import.ts both
 * go through importCapture.
 * All or nothing: on any error the session's rows and the kept file are removed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Db } from '../db/connection.js';
import { updateSession } from '../db/sessions.js';
import { wallClockNs } from '../core/time.js';
import { AckscopeError } from '../core/errors.js';
import { storedCounters, type SessionCounters } from '../db/frame-writer.js';
import { discardSessionFrames } from '../db/frame-rows.js';
import { FramePacker } from '../capture/frame-packer.js';
import { IMPORT_CHECKPOINT_PAGES, inlineRows, threadRows, type ImportRows } from './import-writer.js';
import { PacketCopyFilter } from '../capture/pcap/copies.js';
import type { CaptureRecord, FileDrops } from '../capture/pcap/frame.js';
import { PcapngWriter } from '../capture/pcap/pcapng-writer.js';
import { AutoCaptureReader } from '../capture/pcap/reader.js';

/** The raw capture a session keeps in its folder: the import's copy or the live worker's file. */
export const CAPTURE_FILE_NAME = 'capture.pcapng';

/**
 * failure_reason of a session whose capture or import was cut short because the service
 * process ended under it (SIGKILL, a crash, power loss) and was found so at the next start.
 */
export const INTERRUPTED = 'interrupted';

/** Written in the session's folder while a process imports into it: that process's pid. */
const IMPORT_OWNER_FILE = 'import.pid';

/** Marks this process as the session's importer (before it claims the session). */
export function claimImportOwner(sessionDir: string): void {
  mkdirSync(sessionDir, { recursive: true });
  writeFileSync(join(sessionDir, IMPORT_OWNER_FILE), `${process.pid}\n`);
}

export function releaseImportOwner(sessionDir: string): void {
  rmSync(join(sessionDir, IMPORT_OWNER_FILE), { force: true });
}

/** Whether some process marked itself the session's importer and has not released it. */
export function hasImportOwner(sessionDir: string): boolean {
  return existsSync(join(sessionDir, IMPORT_OWNER_FILE));
}

/** Whether the process named by the owner file still exists (signal 0 only asks). */
export function importOwnerAlive(sessionDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(sessionDir, IMPORT_OWNER_FILE), 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * At start: an import session still `capturing` whose importing process is gone was cut
 * short by that process's end. An import is all or nothing, so what it had committed
 * (frames, flows, the partial pcapng copy) is removed, and the session becomes `failed`
 * with reason `interrupted`: import the file again, into a new session. Imports another
 * live process runs (its pid in the owner file) are left alone. Returns the ids undone.
 */
export function recoverInterruptedImports(db: Db, sessionDir: (id: number) => string): number[] {
  const stuck = db.prepare(`SELECT id FROM sessions WHERE state = 'capturing' AND kind = 'import'`).all() as { id: number }[];
  const undone: number[] = [];
  for (const { id } of stuck) {
    const dir = sessionDir(id);
    if (importOwnerAlive(dir)) continue;
    discardSessionFrames(db, id);
    rmSync(join(dir, CAPTURE_FILE_NAME), { force: true });
    releaseImportOwner(dir);
    updateSession(db, id, { state: 'failed', failure_reason: INTERRUPTED, stopped_ns: wallClockNs(), capture_file: null });
    undone.push(id);
  }
  return undone;
}

/**
 * sent_advances/ack_advances rows the import holds (24 bytes each in typed arrays, so
 * 24-48 MB with the arrays' growth) before writing them as one sorted run per flow
 * direction (capture/advance-runs.ts, db/advances.ts); about one row per TCP frame. Written with every batch
 * instead, they land at ~900 places per batch for 449 interleaved flows: 3.4-3.5 CPU-s
 * per 1M frames against 2.5-2.6 held (docs/import.md "Import speed").
 */
const HOLD_ADVANCE_ROWS = 1_000_000;

export interface ImportOptions {
  /** Where to keep the pcapng copy (<sessionDir>/capture.pcapng); none when absent. */
  captureFile?: string;
  /** Refuse with ACKSCOPE_ERR_PAYLOAD_TOO_LARGE past this many bytes. */
  maxBytes?: number;
  /** Called after each chunk. */
  onProgress?: (bytes: number, frames: number) => void;
  batchFrames?: number;
  /**
   * Write the rows on a writer thread (true) or on this thread (false). Default: on a
   * thread when the database is a file and the capture fills more than one batch (a
   * small file is written before a thread would have started).
   */
  writerThread?: boolean;
}

export interface ImportResult {
  format: 'pcap' | 'pcapng';
  bytes: number;
  counters: SessionCounters;
  /** Copies of one packet dropped (pcapng epb_packetid). */
  duplicateCopies: number;
  firstNs: bigint | null;
  lastNs: bigint | null;
  /** Losses the file records (pcapng statistics blocks, epb_dropcount); null: none recorded. */
  drops: FileDrops | null;
  /** CPU time of the writer thread, ms; null when the rows were written on the importing thread. */
  writerCpuMs: number | null;
}

/**
 * Where an import's rows go, for the reading loop (importInto): SQLite (importCapture)
 * or ClickHouse (recording/clickhouse-import.ts).
 */
export interface ImportTarget {
  /** Counters to go on from (frame numbers continue after `frames`). */
  resume: SessionCounters;
  /** The rows' writer, started once a first batch is due: `thread` says whether the capture fills more than one batch. */
  start(thread: boolean): ImportRows;
  /** Called while the importing thread waits for a busy writer (SQLite: checkpoint the WAL meanwhile). */
  whileBusy?(): void;
  /** After the last batch is written. */
  written?(): void;
  /** After a failure, once the writer stopped: removes every row the import wrote. */
  discard(): Promise<void> | void;
}

export async function importCapture(
  db: Db,
  sessionId: number,
  chunks: AsyncIterable<Uint8Array>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const resume = storedCounters(db, sessionId);
  // Checkpoint the WAL every 128 MiB instead of every 4 MiB while importing: fewer, larger
  // copies into the database file (measured with the final checkpoint included: +10-15%
  // frames/s with the old partial indexes; 1.95-2.06 s against 2.01-2.41 s for 1M frames
  // once the look-up rows moved to 005's tables).
  const releaseCheckpointSetting = importCheckpointSetting(db);
  try {
    return await importInto(
      {
        resume,
        start: (thread) => (thread && !db.memory ? threadRows(db, sessionId, resume.frames) : inlineRows(db, sessionId, resume.frames)),
        // this thread would only wait for the writer: copy the pages it committed from the
        // WAL into the database file meanwhile, so neither the writer's own checkpoints
        // nor the one at the end do it on the way
        whileBusy: () => db.pragma('wal_checkpoint(PASSIVE)'),
        written: () => db.pragma('wal_checkpoint(PASSIVE)'),
        discard: () => discardSessionFrames(db, sessionId),
      },
      chunks,
      options,
    );
  } finally {
    releaseCheckpointSetting();
  }
}

/**
 * The import's reading loop, whatever the store: reader → copy filter → packer → the
 * target's rows, and the pcapng copy. All or nothing: on any error the kept file is
 * removed and the target discards what it wrote.
 */
export async function importInto(target: ImportTarget, chunks: AsyncIterable<Uint8Array>, options: ImportOptions = {}): Promise<ImportResult> {
  const packer = new FramePacker({ batchFrames: options.batchFrames, resume: target.resume, holdAdvances: HOLD_ADVANCE_ROWS });
  let rows: ImportRows | null = null;
  const reader = new AutoCaptureReader();
  let pcapng: PcapngWriter | null = null;
  if (options.captureFile) {
    mkdirSync(dirname(options.captureFile), { recursive: true });
    pcapng = PcapngWriter.toFile(options.captureFile);
  }
  const interfaceIds = new Map<number, number>(); // (linkType, interface) → written interface
  let firstNs: bigint | null = null;
  let lastNs: bigint | null = null;

  const keep = (rec: CaptureRecord): void => {
    packer.add(rec.linkType, rec.tsNs, rec.caplen, rec.wirelen, rec.view, rec.at, rec.fileOffset);
    if (packer.full) {
      rows ??= target.start(options.writerThread ?? true);
      rows.add(packer.take());
    }
  };
  const copies = new PacketCopyFilter(keep, () => packer.countCopy());
  const sink = (rec: CaptureRecord): void => {
    if (firstNs === null) firstNs = rec.tsNs;
    lastNs = rec.tsNs;
    if (pcapng) {
      const key = rec.linkType * 0x10000 + (rec.interfaceId & 0xffff);
      let id = interfaceIds.get(key);
      if (id === undefined) {
        id = pcapng.addInterface({ linkType: rec.linkType });
        interfaceIds.set(key, id);
      }
      pcapng.writePacket(id, rec.tsNs, rec.bytes, rec.at, rec.caplen, rec.wirelen, { direction: rec.direction });
    }
    copies.push(rec);
  };

  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (options.maxBytes !== undefined && bytes > options.maxBytes) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE',
          `capture file is larger than the limit of ${options.maxBytes} bytes (ACKSCOPE_MAX_IMPORT_BYTES)`,
          { limit: options.maxBytes },
        );
      }
      reader.push(chunk, sink);
      options.onProgress?.(bytes, packer.counters.frames);
      const started = rows as ImportRows | null; // set by `keep` once a batch was full
      if (started) {
        if (started.busy) target.whileBusy?.();
        await started.room();
        if (started.failure) throw started.failure;
      }
    }
    reader.end(sink);
    copies.end();
    rows ??= target.start(options.writerThread ?? false);
    await rows.finish(packer.take(true));
    pcapng?.close();
    target.written?.();
    return {
      format: reader.format,
      bytes,
      counters: packer.counters,
      duplicateCopies: copies.duplicates,
      firstNs,
      lastNs,
      drops: reader.drops,
      writerCpuMs: rows.writerCpuMs,
    };
  } catch (err) {
    try {
      pcapng?.close();
    } catch {
      // the file goes anyway
    }
    if (options.captureFile) rmSync(options.captureFile, { force: true });
    // the writer first: once it returns, nothing more of this import lands
    await rows?.abort();
    await target.discard();
    throw err;
  }
}

/** Imports running per connection, and the connection's own setting to restore after the last. */
const activeImports = new WeakMap<Db, { count: number; saved: number }>();

function importCheckpointSetting(db: Db): () => void {
  let entry = activeImports.get(db);
  if (!entry) {
    entry = { count: 0, saved: db.pragma('wal_autocheckpoint', { simple: true }) as number };
    activeImports.set(db, entry);
    db.pragma(`wal_autocheckpoint = ${IMPORT_CHECKPOINT_PAGES}`);
  }
  entry.count++;
  const held = entry;
  return () => {
    if (--held.count === 0) {
      activeImports.delete(db);
      db.pragma(`wal_autocheckpoint = ${held.saved}`);
    }
  };
}

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { wallClockNs } from '../core/time.js';
import { isRunning, sessionsPastRetention, type RetentionCandidate } from '../db/retention.js';

/**
 * Retention in the background: sessions not changed for ACKSCOPE_RETENTION_DAYS, then
 * (while what ackscope keeps exceeds ACKSCOPE_MAX_DB_BYTES) the least recently changed
 * ones, are deleted whole — rows and files — oldest first, never a running one, each
 * deletion logged. What counts toward the limit: what the store keeps (SQLite's pages in
 * use, ClickHouse's active parts) plus every session's files on this host. Freed pages are
 * reused by later sessions (db/retention.ts says why the file is not shrunk).
 */
export interface RetentionPolicy {
  retentionDays: number | null;
  maxDbBytes: number | null;
}

/** What retention asks of a store (SQLite: db/retention.ts; ClickHouse: the ClickHouse store). */
export interface RetentionStore {
  /** Every session, the least recently changed first (ties: lower id first). */
  candidates(): Promise<RetentionCandidate[]>;
  /** Deletes a session's rows, unless it is gone or running by now (then false). Done when it resolves. */
  deleteIdle(sessionId: number): Promise<boolean>;
  /** Bytes the store keeps (SQLite: its pages in use; ClickHouse: its active parts). */
  usedBytes(): Promise<number>;
}

export interface RetentionDeps {
  store: RetentionStore;
  sessionDir(sessionId: number): string;
  log: Pick<Logger, 'info' | 'warn'>;
}

export interface RetentionRun {
  deleted: { id: number; reason: 'age' | 'size' }[];
  /** Bytes counted against ACKSCOPE_MAX_DB_BYTES after the run (null: no limit set). */
  keptBytes: number | null;
}

/** Bytes of every file under a folder (0 when it does not exist). */
export async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(path);
    else if (e.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

async function keptBytes(deps: RetentionDeps, candidates: readonly RetentionCandidate[]): Promise<number> {
  let total = await deps.store.usedBytes();
  for (const c of candidates) total += await folderBytes(deps.sessionDir(c.id));
  return total;
}

/** One pass of the policy. */
export async function runRetention(deps: RetentionDeps, policy: RetentionPolicy, nowNs = wallClockNs()): Promise<RetentionRun> {
  const run: RetentionRun = { deleted: [], keptBytes: null };
  const remove = async (c: RetentionCandidate, reason: 'age' | 'size', fields: object) => {
    const bytes = await folderBytes(deps.sessionDir(c.id));
    if (!(await deps.store.deleteIdle(c.id))) return false; // gone, or started meanwhile
    await rm(deps.sessionDir(c.id), { recursive: true, force: true });
    run.deleted.push({ id: c.id, reason });
    deps.log.info({ sessionId: c.id, name: c.name, reason, fileBytes: bytes, ...fields }, 'retention deleted a session');
    return true;
  };

  if (policy.retentionDays !== null) {
    for (const c of sessionsPastRetention(await deps.store.candidates(), nowNs, policy.retentionDays)) {
      const ageDays = Number((nowNs - c.updatedNs) / 1_000_000n) / 86_400_000;
      await remove(c, 'age', { ageDays: Math.round(ageDays * 100) / 100, retentionDays: policy.retentionDays });
    }
  }

  if (policy.maxDbBytes !== null) {
    let candidates = await deps.store.candidates();
    let total = await keptBytes(deps, candidates);
    for (const c of candidates.filter((x) => !isRunning(x))) {
      if (total <= policy.maxDbBytes) break;
      if (await remove(c, 'size', { keptBytes: total, maxDbBytes: policy.maxDbBytes })) {
        candidates = await deps.store.candidates();
        total = await keptBytes(deps, candidates);
      }
    }
    if (total > policy.maxDbBytes) {
      deps.log.warn(
        { keptBytes: total, maxDbBytes: policy.maxDbBytes },
        'retention: still over ACKSCOPE_MAX_DB_BYTES with only running sessions left (they are never deleted)',
      );
    }
    run.keptBytes = total;
  }
  return run;
}

/**
 * Runs retention now and then every `intervalMs` (one pass at a time); stop() waits for a
 * pass under way. Nothing runs when neither limit is set.
 */
export function startRetention(deps: RetentionDeps, policy: RetentionPolicy, intervalMs: number): { stop(): Promise<void> } {
  if (policy.retentionDays === null && policy.maxDbBytes === null) return { stop: async () => {} };
  let current: Promise<unknown> | null = null;
  let stopped = false;
  const pass = () => {
    if (current || stopped) return; // one pass at a time: a long one skips the next tick
    current = runRetention(deps, policy)
      .catch((err: unknown) => deps.log.warn({ err }, 'retention pass failed; the next pass retries'))
      .finally(() => (current = null));
  };
  const first = setTimeout(pass, 0);
  const timer = setInterval(pass, Math.max(intervalMs, 1000));
  first.unref();
  timer.unref();
  deps.log.info({ ...policy, intervalMs }, 'retention on');
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await current;
    },
  };
}

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { AckscopeError } from '../core/errors.js';
import { tokenFromEnv } from './auth.js';
import { WORKER_NICE } from '../analysis/correlation-runner.js';
import { chooseStore, type StoreChoice } from '../clickhouse/store-url.js';
import { hostname } from 'node:os';

export interface Config {
  host: string;
  port: number;
  dbPath: string;
  /** Session files (raw captures) live under <dataDir>/sessions/<id>/. */
  dataDir: string;
  /** Largest capture file accepted by POST /sessions/:id/import, bytes. */
  maxImportBytes: number;
  /** Largest completion upload, bytes. */
  maxIngestBytes: number;
  logLevel: string;
  /** Bearer token every route but the public ones needs; null: none (loopback only). */
  token: string | null;
  /** Sessions older than this many days are deleted (retention); null: kept. */
  retentionDays: number | null;
  /** Oldest sessions are deleted while the database and its session files exceed this; null: no limit. */
  maxDbBytes: number | null;
  /** How often retention runs, ms. */
  retentionIntervalMs: number;
  /** Correlate in a worker thread (default); false: on the service's thread (ACKSCOPE_CORRELATION_WORKER=0). */
  correlationInWorker: boolean;
  /** The correlation worker thread's nice value, 0-19 (ACKSCOPE_CORRELATION_NICE; analysis/correlation-worker.ts). */
  correlationNice: number;
  /** Store posted completions with a worker thread (default); false: on the service's thread (ACKSCOPE_INGEST_WORKER=0). */
  ingestInWorker: boolean;
  /** Where sessions live (ACKSCOPE_STORE): SQLite at dbPath (the default) or a ClickHouse store (docs/scale-out.md). */
  store: StoreChoice;
  /** The host name written with every frame, flow, completion and session row on ClickHouse (ACKSCOPE_STORE_HOST; default: this machine's name). */
  storeHost: string;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', `${name} must be a non-negative integer, got "${raw}"`);
  }
  return n;
}

function optionalPositiveFromEnv(env: NodeJS.ProcessEnv, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', `${name} must be a positive number, got "${raw}" (unset it to keep everything)`);
  }
  return n;
}

/** Configuration from the environment; every variable is listed in the README. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Config {
  const dbPath = resolve(env.ACKSCOPE_DB || 'data/ackscope.db');
  return {
    host: env.ACKSCOPE_HOST || '127.0.0.1',
    port: intFromEnv(env, 'ACKSCOPE_PORT', 7878),
    dbPath,
    dataDir: resolve(env.ACKSCOPE_DATA_DIR || dirname(dbPath)),
    maxImportBytes: intFromEnv(env, 'ACKSCOPE_MAX_IMPORT_BYTES', 2 * 1024 * 1024 * 1024),
    maxIngestBytes: intFromEnv(env, 'ACKSCOPE_MAX_INGEST_BYTES', 512 * 1024 * 1024),
    logLevel: env.ACKSCOPE_LOG_LEVEL || 'info',
    token: tokenFromEnv(env, (path) => readFileSync(path, 'utf8')),
    retentionDays: optionalPositiveFromEnv(env, 'ACKSCOPE_RETENTION_DAYS'),
    maxDbBytes: optionalPositiveFromEnv(env, 'ACKSCOPE_MAX_DB_BYTES'),
    retentionIntervalMs: intFromEnv(env, 'ACKSCOPE_RETENTION_INTERVAL_MS', 10 * 60 * 1000),
    correlationInWorker: env.ACKSCOPE_CORRELATION_WORKER !== '0',
    correlationNice: Math.min(19, intFromEnv(env, 'ACKSCOPE_CORRELATION_NICE', WORKER_NICE)),
    ingestInWorker: env.ACKSCOPE_INGEST_WORKER !== '0',
    store: chooseStore(env.ACKSCOPE_STORE),
    storeHost: env.ACKSCOPE_STORE_HOST || hostname(),
  };
}

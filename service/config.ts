import { dirname, resolve } from 'node:path';

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
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
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
  };
}

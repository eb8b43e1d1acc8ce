import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { AckscopeError } from '../core/errors.js';

/** migrations/ at the project root; the same from db/ (sources) and dist/db/ (build). */
export const MIGRATIONS_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../migrations/' : '../migrations/', import.meta.url),
);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+)\.sql$/;
/** A migration's line asking to run with foreign keys off (a table rebuild). */
const FOREIGN_KEYS_OFF = /^-- ackscope: foreign keys off$/m;

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: FILE_PATTERN.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({
      version: Number(match[1]),
      name: match[2],
      sql: readFileSync(join(dir, file), 'utf8'),
    }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migrations: expected version ${i + 1}, found ${m.version}_${m.name}.sql`);
    }
  });
  return migrations;
}

/**
 * Applies pending migrations in order, each in its own transaction, and records them in
 * schema_migrations. Running it again is a no-op. A database migrated by newer code is
 * refused: this code cannot know what the newer schema means.
 */
export function migrate(db: Database, migrations = loadMigrations()): { applied: number[]; version: number } {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_ns INTEGER NOT NULL
  )`);
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  const current = row.v ?? 0;
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  if (current > latest) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW',
      `database schema is version ${current}, this ackscope knows up to ${latest}: ` +
        'upgrade ackscope or use another ACKSCOPE_DB file',
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    // A migration that rebuilds a table others reference needs foreign keys off while it
    // runs (dropping the old table would cascade its children away); the pragma is a
    // no-op inside a transaction, so it goes around it, and the keys are checked before
    // the commit instead.
    const keysOff = FOREIGN_KEYS_OFF.test(m.sql) && db.pragma('foreign_keys', { simple: true }) === 1;
    if (keysOff) db.pragma('foreign_keys = OFF');
    try {
      db.transaction(() => {
        db.exec(m.sql);
        if (keysOff) {
          const broken = db.pragma('foreign_key_check') as unknown[];
          if (broken.length > 0) {
            throw new Error(`migration ${m.version}_${m.name} breaks ${broken.length} foreign keys: ${JSON.stringify(broken.slice(0, 3))}`);
          }
        }
        record.run(m.version, m.name, BigInt(Date.now()) * 1_000_000n);
      })();
    } finally {
      if (keysOff) db.pragma('foreign_keys = ON');
    }
    applied.push(m.version);
  }
  return { applied, version: Math.max(current, latest) };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { openDatabase } from '../db/connection.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { tempDir } from './helpers/app.js';

test('migrations apply on an empty database and record each version', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    assert.deepEqual(versions, loadMigrations().map((m) => m.version));
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all() as string[];
    for (const name of ['sessions', 'flows', 'frames', 'completions']) assert.ok(tables.includes(name), name);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    db.close();
  } finally {
    t.cleanup();
  }
});

test('migrating an already migrated database is a no-op', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 'b.db');
    openDatabase(path).close();
    const db = new Database(path);
    const before = db.prepare('SELECT * FROM schema_migrations').all();
    const result = migrate(db);
    assert.deepEqual(result.applied, []);
    assert.deepEqual(db.prepare('SELECT * FROM schema_migrations').all(), before);
    db.close();
  } finally {
    t.cleanup();
  }
});

test('a database with a newer schema than the code is refused with a clear error', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 'c.db');
    openDatabase(path).close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_migrations (version, name, applied_ns) VALUES (999, ?, 0)').run('from_the_future');
    raw.close();
    assert.throws(
      () => openDatabase(path),
      (err: Error & { code?: string }) =>
        err.code === 'ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW' && /version 999/.test(err.message) && /upgrade ackscope/.test(err.message),
    );
  } finally {
    t.cleanup();
  }
});

test('a failing migration leaves nothing half-applied', () => {
  const t = tempDir();
  try {
    const dir = join(t.dir, 'migrations');
    mkdirSync(dir);
    writeFileSync(join(dir, '001_ok.sql'), 'CREATE TABLE a (x INTEGER);');
    writeFileSync(join(dir, '002_bad.sql'), 'CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);');
    const db = new Database(join(t.dir, 'd.db'));
    assert.throws(() => migrate(db, loadMigrations(dir)), /no such table: nowhere/);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all();
    assert.ok(tables.includes('a'));
    assert.ok(!tables.includes('b'), 'the failed migration rolled back');
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations').pluck().all(), [1]);
    db.close();
  } finally {
    t.cleanup();
  }
});

/**
 * The ClickHouse schema, migrated like SQLite's (db/migrate.ts): numbered files in
 * migrations/clickhouse/ applied in order, each recorded in schema_migrations on every
 * server; a server whose schema is newer than this code is refused.
 *
 * ClickHouse DDL is not transactional: every statement is written to be re-run
 * (IF NOT EXISTS), and a migration is recorded on a server only after all its
 * statements succeeded there, so a migration cut short is simply applied again.
 *
 * On a cluster (ACKSCOPE_STORE names one and lists every shard): 18.16 runs ON CLUSTER
 * only with ZooKeeper, so the statements go to each listed shard in turn, each table
 * becoming `<name>_local` (MergeTree) plus a Distributed `<name>` over them
 * (planStatements, pure and unit tested).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { AckscopeError } from '../core/errors.js';
import type { ClickHouseClient } from './http-client.js';
import { configuredName, identifier, literal, migrationText, sql, type Sql } from './sql.js';
import { LOCAL_SUFFIX, MIGRATIONS_TABLE, TABLES, type TableName } from './tables.js';

/** migrations/clickhouse/ at the project root; the same from clickhouse/ (sources) and dist/clickhouse/ (build). */
export const CLICKHOUSE_MIGRATIONS_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../migrations/clickhouse/' : '../migrations/clickhouse/', import.meta.url),
);

export interface ClickHouseMigration {
  version: number;
  name: string;
  sql: string;
}

const FILE_PATTERN = /^(\d{3})_([a-z0-9_]+)\.sql$/;

export function loadClickHouseMigrations(dir = CLICKHOUSE_MIGRATIONS_DIR): ClickHouseMigration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, match: FILE_PATTERN.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({ version: Number(match[1]), name: match[2], sql: readFileSync(join(dir, file), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations/clickhouse: expected version ${i + 1}, found ${m.version}_${m.name}.sql`);
  });
  return migrations;
}

export function latestVersion(migrations: readonly ClickHouseMigration[]): number {
  return migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
}

/** A migration's statements: comment lines dropped, split at a `;` ending a line. */
export function splitStatements(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join('\n')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function tableOf(name: string, statement: string): TableName {
  if (!Object.hasOwn(TABLES, name)) {
    throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `migration statement names table "${name}", which clickhouse/tables.ts does not know: ${statement.slice(0, 80)}`);
  }
  return name as TableName;
}

const CREATE = /^CREATE TABLE IF NOT EXISTS (\w+)\b/;
const ALTER = /^ALTER TABLE (\w+)\b/;

/**
 * What one migration runs on each server. One node: the statements as written. A
 * cluster: CREATE TABLE t → CREATE TABLE t_local + a Distributed t over the shards;
 * ALTER TABLE t → the same on t_local and on t. Any other statement is refused on a
 * cluster (nothing else is needed yet; say what it means before adding it).
 */
export function planStatements(text: string, target: { database: string; cluster?: string }): Sql[] {
  const statements = splitStatements(text);
  if (target.cluster === undefined) return statements.map(migrationText);
  const cluster = configuredName(target.cluster);
  const database = configuredName(target.database);
  return statements.flatMap((statement) => {
    const create = CREATE.exec(statement);
    if (create) {
      const table = TABLES[tableOf(create[1], statement)];
      const local = identifier(table.name + LOCAL_SUFFIX);
      const localDdl = migrationText(statement.replace(CREATE, `CREATE TABLE IF NOT EXISTS ${local.text}`));
      const distributed = sql`CREATE TABLE IF NOT EXISTS ${identifier(table.name)} AS ${database}.${local} ENGINE = Distributed(${cluster}, ${database}, ${local}, ${migrationText(table.shardKey)})`;
      return [localDdl, distributed];
    }
    const alter = ALTER.exec(statement);
    if (alter) {
      const table = TABLES[tableOf(alter[1], statement)];
      return [
        migrationText(statement.replace(ALTER, `ALTER TABLE ${identifier(table.name + LOCAL_SUFFIX).text}`)),
        migrationText(statement.replace(ALTER, `ALTER TABLE ${identifier(table.name).text}`)),
      ];
    }
    throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `a cluster migration runs CREATE TABLE IF NOT EXISTS and ALTER TABLE only: ${statement.slice(0, 80)}`);
  });
}

/** ClickHouse's "column with this name already exists". */
const COLUMN_EXISTS = 44;
const ADD_COLUMN = /^ALTER TABLE \S+ ADD COLUMN /;

/**
 * Runs a migration statement so that running it again is harmless: 18.16 has no
 * `ADD COLUMN IF NOT EXISTS` (19.1 has), so an ADD COLUMN that a migration cut short
 * already applied answers "already exists" (code 44), which is taken as done.
 */
async function runAgainSafely(client: ClickHouseClient, statement: Sql, host: number): Promise<void> {
  try {
    await client.query(statement, { host });
  } catch (err) {
    const existing = err instanceof AckscopeError && (err.details as { clickhouseCode?: unknown } | undefined)?.clickhouseCode === COLUMN_EXISTS;
    if (!(existing && ADD_COLUMN.test(statement.text))) throw err;
  }
}

/** The schema version each server records (0: none yet). */
export async function schemaVersions(client: ClickHouseClient): Promise<number[]> {
  const versions: number[] = [];
  for (let host = 0; host < client.hostCount; host++) {
    const rows = await client.rows(
      sql`SELECT count() AS tables FROM system.tables WHERE database = ${literal(client.config.database, 'String')} AND name = ${literal(MIGRATIONS_TABLE, 'String')}`,
      { host, withoutDatabase: true },
    );
    if (Number(rows[0][0]) === 0) {
      versions.push(0);
      continue;
    }
    const max = await client.rows(sql`SELECT max(version) FROM ${identifier(MIGRATIONS_TABLE)}`, { host });
    versions.push(Number(max[0][0]));
  }
  return versions;
}

/** A cluster named in ACKSCOPE_STORE must exist on the first host with as many shards as hosts listed. */
async function checkCluster(client: ClickHouseClient): Promise<void> {
  const { cluster, hosts } = client.config;
  if (cluster === undefined) return;
  const rows = await client.rows(sql`SELECT count() FROM system.clusters WHERE cluster = ${literal(cluster, 'String')}`, {
    host: 0,
    withoutDatabase: true,
  });
  const shards = Number(rows[0][0]);
  if (shards !== hosts.length) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_CONFIG_INVALID',
      shards === 0
        ? `ACKSCOPE_STORE: the server has no cluster "${cluster}" in its <remote_servers>`
        : `ACKSCOPE_STORE: cluster "${cluster}" has ${shards} shards, the URL lists ${hosts.length} hosts: list every shard's HTTP address`,
    );
  }
}

/**
 * Creates the database and applies pending migrations on every server. Running it again
 * is a no-op. A server migrated by newer code is refused (ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW).
 */
export async function migrateClickHouse(
  client: ClickHouseClient,
  migrations = loadClickHouseMigrations(),
): Promise<{ applied: number[]; version: number }> {
  const { database, cluster } = client.config;
  const latest = latestVersion(migrations);
  await checkCluster(client);
  for (let host = 0; host < client.hostCount; host++) {
    await client.query(sql`CREATE DATABASE IF NOT EXISTS ${configuredName(database)}`, { host, withoutDatabase: true });
    await client.query(
      sql`CREATE TABLE IF NOT EXISTS ${identifier(MIGRATIONS_TABLE)} (version UInt32, name String, applied_ns Int64) ENGINE = MergeTree ORDER BY version`,
      { host },
    );
  }
  const versions = await schemaVersions(client);
  const newest = Math.max(...versions);
  if (newest > latest) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW',
      `ClickHouse database ${database} has schema version ${newest}, this ackscope knows up to ${latest}: upgrade ackscope or use another database`,
      { versions },
    );
  }
  const applied = new Set<number>();
  for (const m of migrations) {
    const statements = planStatements(m.sql, { database, cluster });
    for (let host = 0; host < client.hostCount; host++) {
      if (m.version <= versions[host]) continue;
      for (const statement of statements) await runAgainSafely(client, statement, host);
      const appliedNs = BigInt(Date.now()) * 1_000_000n;
      await client.query(
        sql`INSERT INTO ${identifier(MIGRATIONS_TABLE)} (version, name, applied_ns) VALUES (${literal(m.version, 'UInt32')}, ${literal(m.name, 'String')}, ${literal(appliedNs, 'Int64')})`,
        { host },
      );
      applied.add(m.version);
    }
  }
  return { applied: [...applied], version: latest };
}

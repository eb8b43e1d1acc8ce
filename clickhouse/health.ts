/**
 * The ClickHouse store's health, for the service's /healthz and /metrics: each listed
 * server answers /ping, accepts ackscope's user, and holds the schema this code knows.
 * Never throws: a failure is reported per host with its error code, so a health check
 * answers even when the store does not.
 */
import { isAckscopeError } from '../core/errors.js';
import type { ClickHouseClient } from './http-client.js';
import { latestVersion, loadClickHouseMigrations } from './migrate.js';
import { identifier, sql } from './sql.js';
import { MIGRATIONS_TABLE } from './tables.js';
import { hostLabel } from './store-url.js';

export interface HostHealth {
  host: string;
  ok: boolean;
  /** Recorded schema version on this server; null when it could not be read. */
  schemaVersion: number | null;
  error?: { code: string; message: string };
}

export interface ClickHouseHealth {
  store: 'clickhouse';
  /** Every host answers with the latest schema. */
  ok: boolean;
  database: string;
  cluster: string | null;
  latestVersion: number;
  hosts: HostHealth[];
}

async function hostHealth(client: ClickHouseClient, host: number, latest: number): Promise<HostHealth> {
  const label = hostLabel(client.config.hosts[host]);
  try {
    await client.ping(host);
    const rows = await client.rows(sql`SELECT max(version) FROM ${identifier(MIGRATIONS_TABLE)}`, { host });
    const schemaVersion = Number(rows[0][0]);
    if (schemaVersion !== latest) {
      return {
        host: label,
        ok: false,
        schemaVersion,
        error: { code: 'ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW', message: `schema version ${schemaVersion}, this ackscope knows ${latest}` },
      };
    }
    return { host: label, ok: true, schemaVersion };
  } catch (err) {
    const code = isAckscopeError(err) ? err.code : 'ACKSCOPE_ERR_INTERNAL';
    return { host: label, ok: false, schemaVersion: null, error: { code, message: (err as Error).message } };
  }
}

export async function clickhouseHealth(client: ClickHouseClient, latest = latestVersion(loadClickHouseMigrations())): Promise<ClickHouseHealth> {
  const hosts = await Promise.all(client.config.hosts.map((_, i) => hostHealth(client, i, latest)));
  return {
    store: 'clickhouse',
    ok: hosts.every((h) => h.ok),
    database: client.config.database,
    cluster: client.config.cluster ?? null,
    latestVersion: latest,
    hosts,
  };
}

/** The same as gauges for /metrics: name, labels, value (prom-client's shape, no dependency here). */
export function healthGauges(health: ClickHouseHealth): { name: string; labels: Record<string, string>; value: number }[] {
  return health.hosts.flatMap((h) => [
    { name: 'ackscope_store_up', labels: { store: 'clickhouse', host: h.host }, value: h.ok ? 1 : 0 },
    { name: 'ackscope_store_schema_version', labels: { store: 'clickhouse', host: h.host }, value: h.schemaVersion ?? -1 },
  ]);
}

/**
 * ACKSCOPE_STORE: which store a service or command uses. Unset or `sqlite` keeps the
 * embedded SQLite file (ACKSCOPE_DB); a `clickhouse://` URL selects ClickHouse:
 *
 *   clickhouse://USER:PASSWORD@HOST[:PORT][,HOST[:PORT]...]/DATABASE?cluster=NAME&secure=1&timeout_ms=30000
 *
 * Several hosts are the HTTP addresses of every shard of the cluster: Debian's 18.16 has
 * no ON CLUSTER without ZooKeeper, so the schema is created on each shard by ackscope
 * itself (clickhouse/migrate.ts). User and password are percent-encoded, as in any URL.
 * Pure: no I/O, so every refusal is unit tested.
 */
import { AckscopeError } from '../core/errors.js';

export interface ClickHouseHost {
  host: string;
  port: number;
}

export interface ClickHouseStoreConfig {
  hosts: ClickHouseHost[];
  /** HTTPS instead of HTTP (secure=1). */
  secure: boolean;
  user: string;
  password: string;
  database: string;
  /** `<remote_servers>` cluster name: per-shard local tables behind Distributed tables. */
  cluster?: string;
  /** No byte from the server for this long ends a request with ACKSCOPE_ERR_STORE_UNREACHABLE. */
  timeoutMs: number;
  /** A TCP connection not established within this ends it the same way. */
  connectTimeoutMs: number;
}

export type StoreChoice = { kind: 'sqlite' } | { kind: 'clickhouse'; config: ClickHouseStoreConfig };

const DEFAULT_HTTP_PORT = 8123;
const DEFAULT_HTTPS_PORT = 8443;
const DEFAULT_DATABASE = 'ackscope';
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** ClickHouse database and cluster names ackscope accepts: written into DDL, so a strict pattern. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const URL_SHAPE = /^clickhouse:\/\/(?:([^@/?#]*)@)?([^@/?#]+)(?:\/([^?#]*))?(?:\?([^#]*))?$/;
const KNOWN_PARAMS = new Set(['cluster', 'secure', 'timeout_ms', 'connect_timeout_ms']);

function invalid(message: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', `ACKSCOPE_STORE: ${message}`);
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`the ${what} is not valid percent-encoding`);
  }
}

function parseHost(text: string, index: number): ClickHouseHost & { portGiven: boolean } {
  // [v6]:port, host:port, or host alone
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(text);
  const plain = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(text);
  const m = bracketed ?? plain;
  // the text is not repeated: a URL missing its '@' would have the password here
  if (!m) throw invalid(`host ${index + 1} of the list is not a host, host:port or [IPv6]:port`);
  const portGiven = m[2] !== undefined;
  const port = portGiven ? Number(m[2]) : 0;
  if (portGiven && (port < 1 || port > 65535)) throw invalid(`port ${m[2]} is out of range`);
  return { host: m[1], port, portGiven };
}

function parseFlag(value: string, name: string): boolean {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw invalid(`${name} must be 1, 0, true or false, not "${value}"`);
}

function parseMs(value: string, name: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) throw invalid(`${name} must be a whole number of milliseconds ≥ 1`);
  return Number(value);
}

/** Parses a clickhouse:// URL. Messages never repeat the password. */
export function parseClickHouseUrl(url: string): ClickHouseStoreConfig {
  const m = URL_SHAPE.exec(url);
  if (!m) throw invalid('expected clickhouse://USER:PASSWORD@HOST:PORT/DATABASE');
  const [, userInfo, hostList, path, query] = m;
  let user = 'default';
  let password = '';
  if (userInfo !== undefined) {
    const colon = userInfo.indexOf(':');
    user = decode(colon === -1 ? userInfo : userInfo.slice(0, colon), 'user');
    password = colon === -1 ? '' : decode(userInfo.slice(colon + 1), 'password');
    if (user === '') throw invalid('the user is empty');
  }
  const params = new URLSearchParams(query ?? '');
  for (const key of params.keys()) {
    if (!KNOWN_PARAMS.has(key)) throw invalid(`unknown option "${key}" (known: ${[...KNOWN_PARAMS].join(', ')})`);
  }
  const secure = params.has('secure') ? parseFlag(params.get('secure')!, 'secure') : false;
  const hosts = hostList.split(',').map((text, index) => {
    const h = parseHost(text, index);
    return { host: h.host, port: h.portGiven ? h.port : secure ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT };
  });
  const database = path === undefined || path === '' ? DEFAULT_DATABASE : decode(path, 'database');
  if (!NAME_PATTERN.test(database)) throw invalid(`database "${database}" must match ${NAME_PATTERN.source}`);
  const cluster = params.get('cluster') ?? undefined;
  if (cluster !== undefined && !NAME_PATTERN.test(cluster)) throw invalid(`cluster "${cluster}" must match ${NAME_PATTERN.source}`);
  if (cluster === undefined && hosts.length > 1) {
    throw invalid('several hosts are the shards of a cluster: name it with ?cluster=NAME');
  }
  return {
    hosts,
    secure,
    user,
    password,
    database,
    ...(cluster !== undefined ? { cluster } : {}),
    timeoutMs: params.has('timeout_ms') ? parseMs(params.get('timeout_ms')!, 'timeout_ms') : DEFAULT_TIMEOUT_MS,
    connectTimeoutMs: params.has('connect_timeout_ms')
      ? parseMs(params.get('connect_timeout_ms')!, 'connect_timeout_ms')
      : DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/** ACKSCOPE_STORE → the store to open. SQLite stays the default. */
export function chooseStore(value: string | undefined): StoreChoice {
  if (value === undefined || value === '' || value === 'sqlite') return { kind: 'sqlite' };
  if (value.startsWith('clickhouse://')) return { kind: 'clickhouse', config: parseClickHouseUrl(value) };
  throw invalid('expected "sqlite" or a clickhouse:// URL');
}

/** host:port for messages and health reports (never the user or password). */
export function hostLabel(host: ClickHouseHost): string {
  return host.host.includes(':') ? `[${host.host}]:${host.port}` : `${host.host}:${host.port}`;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseStore, parseClickHouseUrl } from '../clickhouse/store-url.js';
import { AckscopeError } from '../core/errors.js';

const refusedAs = (code: string, fragment?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof AckscopeError, String(err));
  assert.equal(err.code, code);
  if (fragment) assert.match(err.message, fragment);
  return true;
};

test('SQLite stays the default: unset, empty or "sqlite"', () => {
  assert.deepEqual(chooseStore(undefined), { kind: 'sqlite' });
  assert.deepEqual(chooseStore(''), { kind: 'sqlite' });
  assert.deepEqual(chooseStore('sqlite'), { kind: 'sqlite' });
  assert.throws(() => chooseStore('postgres://x'), refusedAs('ACKSCOPE_ERR_CONFIG_INVALID'));
});

test('a full URL: user, percent-encoded password, host, port, database, cluster, TLS, timeouts', () => {
  const choice = chooseStore('clickhouse://writer:p%40ss%3Aw%2Frd@ch1.example:9443/metrics?cluster=fleet&secure=1&timeout_ms=1500&connect_timeout_ms=200');
  assert.equal(choice.kind, 'clickhouse');
  assert.deepEqual(choice.kind === 'clickhouse' ? choice.config : null, {
    hosts: [{ host: 'ch1.example', port: 9443 }],
    secure: true,
    user: 'writer',
    password: 'p@ss:w/rd',
    database: 'metrics',
    cluster: 'fleet',
    timeoutMs: 1500,
    connectTimeoutMs: 200,
  });
});

test('defaults: user default, no password, port 8123 (8443 with TLS), database ackscope', () => {
  const plain = parseClickHouseUrl('clickhouse://localhost');
  assert.deepEqual(plain.hosts, [{ host: 'localhost', port: 8123 }]);
  assert.equal(plain.user, 'default');
  assert.equal(plain.password, '');
  assert.equal(plain.database, 'ackscope');
  assert.equal(plain.secure, false);
  assert.equal(plain.cluster, undefined);
  assert.deepEqual(parseClickHouseUrl('clickhouse://h/?secure=true').hosts, [{ host: 'h', port: 8443 }]);
  assert.equal(parseClickHouseUrl('clickhouse://u@h/db').password, '');
});

test('every shard of a cluster in the host part; IPv6 in brackets', () => {
  const config = parseClickHouseUrl('clickhouse://u:p@127.0.0.1:8123,[::1]:8124,shard3/db?cluster=two');
  assert.deepEqual(config.hosts, [
    { host: '127.0.0.1', port: 8123 },
    { host: '::1', port: 8124 },
    { host: 'shard3', port: 8123 },
  ]);
  assert.throws(() => parseClickHouseUrl('clickhouse://a:1,b:2/db'), refusedAs('ACKSCOPE_ERR_CONFIG_INVALID', /cluster/));
});

test('refusals name the problem and never repeat the password', () => {
  const cases: [string, RegExp][] = [
    ['http://h/db', /clickhouse:\/\//],
    ['clickhouse://u:secretpw@h:0/db', /port 0/],
    ['clickhouse://u:secretpw@h:70000/db', /port 70000/],
    ['clickhouse://u:secretpw@h/db;DROP', /database/],
    ['clickhouse://u:secretpw@h/db?cluster=a-b', /cluster/],
    ['clickhouse://u:secretpw@h/db?secure=yes', /secure/],
    ['clickhouse://u:secretpw@h/db?timeout_ms=0', /timeout_ms/],
    ['clickhouse://u:secretpw@h/db?timeout_ms=1e3', /timeout_ms/],
    ['clickhouse://u:secretpw@h/db?clustr=x', /unknown option "clustr"/],
    ['clickhouse://:secretpw@h/db', /user/],
    ['clickhouse://u:secret%ZZpw@h/db', /password/],
    ['clickhouse://u:secretpw@h h/db', /host 1/],
    ['clickhouse://u:secretpw/db', /host 1/],
    ['clickhouse://u:secretpw@/db', /expected/],
  ];
  for (const [url, fragment] of cases) {
    assert.throws(() => parseClickHouseUrl(url), (err: unknown) => {
      refusedAs('ACKSCOPE_ERR_CONFIG_INVALID', fragment)(err);
      assert.doesNotMatch((err as Error).message, /secret/, url);
      return true;
    }, url);
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { encodeRowBinary, RowBinaryEncoder } from '../clickhouse/row-binary.js';
import { sql } from '../clickhouse/sql.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import type { Column } from '../clickhouse/tables.js';
import { AckscopeError } from '../core/errors.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';

const COLUMNS: Column[] = [
  { name: 'u8', type: 'UInt8' },
  { name: 'u16', type: 'UInt16' },
  { name: 'u32', type: 'UInt32' },
  { name: 'u64', type: 'UInt64' },
  { name: 'i64', type: 'Int64' },
  { name: 's', type: 'String' },
  { name: 'ns', type: 'Nullable(String)' },
  { name: 'ni', type: 'Nullable(Int64)' },
];

const refused = (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_STORE_VALUE';

test('RowBinary bytes as ClickHouse documents them: little-endian integers, LEB128 string lengths, a NULL byte before Nullable values', () => {
  const e = new RowBinaryEncoder(COLUMNS);
  e.push([1, 0x0203, 0x04050607n, 0x08090a0b0c0d0e0fn, -2n, 'é', null, 5]);
  assert.equal(
    e.flush()!.toString('hex'),
    '01' + '0302' + '07060504' + '0f0e0d0c0b0a0908' + 'feffffffffffffff' + '02c3a9' + '01' + '00' + '0500000000000000',
  );
  const long = new RowBinaryEncoder([{ name: 's', type: 'String' }]);
  long.push(['x'.repeat(300)]);
  assert.equal(long.flush()!.subarray(0, 2).toString('hex'), 'ac02'); // 300 = 0b10_0101100
});

test('values that do not fit their column are refused, and leave nothing half-written', () => {
  const e = new RowBinaryEncoder(COLUMNS);
  const ok: unknown[] = [0, 0, 0, 0n, 0n, '', null, null];
  for (const [i, bad] of [[0, 256], [0, -1], [1, 65536], [2, 2 ** 32], [3, -1n], [3, 2n ** 64n], [4, 2n ** 63n], [4, 1.5], [5, 7], [5, 'a\uD800'], [6, 3], [7, 'x']] as [number, unknown][]) {
    const row = [...ok];
    row[i] = bad;
    assert.throws(() => e.push(row), refused, `column ${i}: ${String(bad)}`);
  }
  assert.throws(() => e.push([1]), refused);
  assert.equal(e.flush(), null);
});

let ch: RunningClickHouse;
before(async () => {
  ch = await startClickHouse();
});
after(async () => {
  await ch?.stop();
});

test('the server reads the stream back as written: edge values, 64-bit extremes, NUL and quote bytes, many chunks', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(ch.url('default')));
  try {
    await client.query(sql`CREATE TABLE rb (u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i64 Int64, s String, ns Nullable(String), ni Nullable(Int64)) ENGINE = MergeTree ORDER BY u64`);
    const edge: unknown[][] = [
      [255, 65535, 4294967295, 18446744073709551615n, -9223372036854775808n, "'\\\0\n", null, 9223372036854775807n],
      [0, 0, 0, 0n, 9223372036854775807n, '', '', null],
    ];
    const many = Array.from({ length: 100_000 }, (_, i) => [i & 0xff, i & 0xffff, i, BigInt(i) + 10n, BigInt(-i), `row ${i} ${'z'.repeat(i % 40)}`, i % 3 === 0 ? null : `n${i}`, i % 5 === 0 ? null : BigInt(i) * 1000003n]);
    await client.insert(sql`INSERT INTO rb FORMAT RowBinary`, encodeRowBinary(COLUMNS, [...edge, ...many]));
    const back = await client.rows(sql`SELECT * FROM rb WHERE u64 < 2 OR u64 = 18446744073709551615 ORDER BY u64`);
    assert.deepEqual(back, [
      [0, 0, 0, '0', '9223372036854775807', '', '', null],
      [255, 65535, 4294967295, '18446744073709551615', '-9223372036854775808', "'\\\0\n", null, '9223372036854775807'],
    ]);
    const sums = await client.rows(sql`SELECT count(), sum(u32), sum(length(s)), countIf(isNull(ns)), sum(ni) FROM rb WHERE u64 >= 10 AND u64 < 18446744073709551615`);
    let len = 0;
    let ni = 0n;
    for (const r of many) {
      len += Buffer.byteLength(r[5] as string);
      if (r[7] !== null) ni += r[7] as bigint;
    }
    assert.deepEqual(sums, [['100000', '4999950000', String(len), '33334', String(ni)]]);
  } finally {
    client.close();
  }
});

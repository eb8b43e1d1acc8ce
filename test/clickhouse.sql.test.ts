import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredName, identifier, joinSql, literal, literalList, Sql, sql } from '../clickhouse/sql.js';
import { AckscopeError } from '../core/errors.js';

const refused = (err: unknown) => {
  assert.ok(err instanceof AckscopeError, String(err));
  assert.equal(err.code, 'ACKSCOPE_ERR_STORE_VALUE');
  return true;
};

/** What a literal may contain: printable ASCII, no quote or backslash except the \xHH escapes and the enclosing quotes. */
function assertInert(text: string) {
  assert.match(text, /^'(?:[\x20-\x26\x28-\x5b\x5d-\x7e]|\\x[0-9a-f]{2})*'$/, text);
}

test('strings: quotes, backslashes, NUL, newlines, comments and unicode are written as \\xHH, never as themselves', () => {
  assert.equal(literal("it's", 'String').text, "'it\\x27s'");
  assert.equal(literal('a\\b', 'String').text, "'a\\x5cb'");
  assert.equal(literal('\0\n\r\t', 'String').text, "'\\x00\\x0a\\x0d\\x09'");
  assert.equal(literal('é', 'String').text, "'\\xc3\\xa9'");
  assert.equal(literal('', 'String').text, "''");
  const attacks = [
    "'; DROP TABLE frames; --",
    "\\'; DROP TABLE frames; --",
    "\\\\'",
    "x' OR 1=1 OR 'x",
    "\u0000' UNION SELECT 1 --",
    '/* */ -- #',
    "a\u2019b\uff07c", // quotes that look like quotes
    '😀\u{10FFFF}',
    "'".repeat(1000),
    '\\'.repeat(999),
  ];
  for (const attack of attacks) {
    const text = literal(attack, 'String').text;
    assertInert(text);
    // decoding the \xHH escapes gives back exactly the UTF-8 bytes
    const bytes = Buffer.from(text.slice(1, -1).replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    assert.deepEqual(bytes, Buffer.from(attack, 'utf8'));
  }
});

test('raw bytes are written byte for byte; a lone surrogate, a number, an object are refused', () => {
  assert.equal(literal(Uint8Array.from([0, 0x27, 0x5c, 0xff, 0x41]), 'String').text, "'\\x00\\x27\\x5c\\xffA'");
  assert.throws(() => literal('a\uD800b', 'String'), refused);
  assert.throws(() => literal('\uDC00', 'String'), refused);
  assert.throws(() => literal(42, 'String'), refused);
  assert.throws(() => literal({ toString: () => "'" } as unknown as string, 'String'), refused);
});

test('integers: range-checked per type, bigint for 64 bits, negatives in parentheses (a--1 would be a comment)', () => {
  assert.equal(literal(0, 'UInt8').text, '0');
  assert.equal(literal(255, 'UInt8').text, '255');
  assert.throws(() => literal(256, 'UInt8'), refused);
  assert.throws(() => literal(-1, 'UInt64'), refused);
  assert.equal(literal(18446744073709551615n, 'UInt64').text, '18446744073709551615');
  assert.throws(() => literal(18446744073709551616n, 'UInt64'), refused);
  assert.equal(literal(-9223372036854775808n, 'Int64').text, '(-9223372036854775808)');
  assert.throws(() => literal(-9223372036854775809n, 'Int64'), refused);
  assert.equal(literal(-1, 'Int8').text, '(-1)');
  assert.equal(sql`a-${literal(-1, 'Int64')}`.text, 'a-(-1)');
  for (const bad of [1.5, NaN, Infinity, 2 ** 53, '1', '1; DROP TABLE x', true]) {
    assert.throws(() => literal(bad as number, 'Int64'), refused, String(bad));
  }
});

test('NULL only for Nullable types', () => {
  assert.equal(literal(null, 'Nullable(Int64)').text, 'NULL');
  assert.equal(literal(null, 'Nullable(String)').text, 'NULL');
  assert.throws(() => literal(null, 'Int64'), refused);
  assert.throws(() => literal(null, 'String'), refused);
  assert.equal(literal(7, 'Nullable(Int64)').text, '7');
});

test('identifiers come from the store\'s own tables and columns only', () => {
  assert.equal(identifier('frames').text, '`frames`');
  assert.equal(identifier('frames_local').text, '`frames_local`');
  assert.equal(identifier('sent_max').text, '`sent_max`');
  for (const bad of ['system.users', 'frames`; DROP', 'Frames', '', 'frames ', 'users']) {
    assert.throws(() => identifier(bad), refused, bad);
  }
  assert.equal(configuredName('ackscope_1').text, '`ackscope_1`');
  for (const bad of ['a-b', '1db', 'db`x', 'db;', '', 'a'.repeat(64)]) assert.throws(() => configuredName(bad), refused, bad);
});

test('the sql tag takes Sql holes only: a string interpolated by mistake is refused', () => {
  const id = literal(3, 'UInt64');
  assert.equal(sql`SELECT 1 WHERE x = ${id}`.text, 'SELECT 1 WHERE x = 3');
  assert.throws(() => sql`SELECT ${"'; DROP" as unknown as Sql}`, refused);
  assert.throws(() => joinSql(['1' as unknown as Sql], ', '), refused);
  assert.throws(() => new Sql(Symbol('Sql'), 'DROP TABLE frames'), refused);
  assert.equal(literalList([1, 2, -3], 'Int64').text, '(1, 2, (-3))');
  assert.throws(() => literalList([], 'Int64'), refused);
});

/**
 * Safe SQL for a server that takes no query parameters (ClickHouse 18.16: `Unknown
 * setting param_p`, /work/shared/CLICKHOUSE.md): every value is written into the
 * statement's text, so every value goes through ONE function, `literal`, which
 * validates it against its column type and encodes it so that no byte of it can end
 * the literal. Statements are `Sql` values built by the `sql` tag, which accepts only
 * other `Sql` values in its holes: a plain string interpolated by mistake is refused at
 * run time, so text from outside can reach a statement only through `literal`.
 *
 * Encoding of strings: the UTF-8 bytes, printable ASCII kept except `'` and `\`,
 * every other byte (quotes, backslashes, NUL, newlines, every non-ASCII byte) written as
 * `\xHH`. The statement is then pure printable ASCII, and the server's parser never
 * sees a quote, a backslash or a multi-byte sequence it could misread.
 * Negative integers are parenthesised: `a-${x}` with x = -1 would otherwise read
 * `a--1`, a comment.
 */
import { AckscopeError } from '../core/errors.js';
import { NAME_PATTERN } from './store-url.js';
import { TABLES, LOCAL_SUFFIX, MIGRATIONS_TABLE, type ColumnType, type IntegerType, type ScalarType } from './tables.js';

/** Only this module can make an Sql: its constructor wants this module's own symbol. */
const TRUSTED = Symbol('Sql');

/** A piece of SQL text known to be safe: written by ackscope's code, or built by the functions below. */
export class Sql {
  readonly text: string;
  constructor(token: symbol, text: string) {
    if (token !== TRUSTED) throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', 'Sql is built by sql``, literal() or identifier() only');
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

function trusted(text: string): Sql {
  return new Sql(TRUSTED, text);
}

function refuse(message: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', message);
}

/** sql`SELECT ... WHERE session_id = ${literal(id, 'UInt64')}`: every hole must be Sql. */
export function sql(strings: TemplateStringsArray, ...holes: Sql[]): Sql {
  let text = strings[0];
  holes.forEach((hole, i) => {
    if (!(hole instanceof Sql)) {
      throw refuse(`hole ${i} of a statement is a ${typeof hole}, not Sql: pass values through literal()`);
    }
    text += hole.text + strings[i + 1];
  });
  return trusted(text);
}

/** Joins Sql pieces with a separator written by code (', ', ' AND '). */
export function joinSql(parts: readonly Sql[], separator: ', ' | ' AND ' | ' OR ' | '\n'): Sql {
  for (const part of parts) if (!(part instanceof Sql)) throw refuse('joinSql takes Sql pieces only');
  return trusted(parts.map((p) => p.text).join(separator));
}

const INTEGER_RANGES: Record<IntegerType, [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65535n],
  UInt32: [0n, 4294967295n],
  UInt64: [0n, 18446744073709551615n],
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-2147483648n, 2147483647n],
  Int64: [-9223372036854775808n, 9223372036854775807n],
};

/** A lone UTF-16 surrogate has no UTF-8 form: it would come back as U+FFFD, not as written. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type SqlValue = string | Uint8Array | number | bigint | null;

/** Validates an integer for its type: a safe-integer number or a bigint in range. */
export function checkedInteger(value: unknown, type: IntegerType): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else throw refuse(`${type} value must be a safe integer or a bigint, not ${describe(value)}`);
  const [min, max] = INTEGER_RANGES[type];
  if (n < min || n > max) throw refuse(`${type} value ${n} is out of range [${min}, ${max}]`);
  return n;
}

/** Validates a string value: any well-formed JS string, or raw bytes. Returns its bytes. */
export function checkedStringBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value !== 'string') throw refuse(`String value must be a string or bytes, not ${describe(value)}`);
  if (LONE_SURROGATE.test(value)) throw refuse('String value holds a lone UTF-16 surrogate (no UTF-8 form)');
  return Buffer.from(value, 'utf8');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return `the number ${value}`;
  return `a ${typeof value}`;
}

const HEX = '0123456789abcdef';

function stringLiteral(bytes: Uint8Array): string {
  let out = "'";
  for (const b of bytes) {
    // printable ASCII except ' (0x27) and \ (0x5c) as is; every other byte as \xHH
    if (b >= 0x20 && b <= 0x7e && b !== 0x27 && b !== 0x5c) out += String.fromCharCode(b);
    else out += '\\x' + HEX[b >> 4] + HEX[b & 15];
  }
  return out + "'";
}

function scalarOf(type: ColumnType): { scalar: ScalarType; nullable: boolean } {
  const m = /^Nullable\((.+)\)$/.exec(type);
  return m ? { scalar: m[1] as ScalarType, nullable: true } : { scalar: type as ScalarType, nullable: false };
}

/**
 * THE function that writes a value into a statement: validated against `type`
 * (ClickHouse's column type), then encoded. Refusals are ACKSCOPE_ERR_STORE_VALUE.
 */
export function literal(value: SqlValue, type: ColumnType): Sql {
  const { scalar, nullable } = scalarOf(type);
  if (value === null || value === undefined) {
    if (!nullable) throw refuse(`${type} value must not be null`);
    return trusted('NULL');
  }
  if (scalar === 'String') return trusted(stringLiteral(checkedStringBytes(value)));
  if (!(scalar in INTEGER_RANGES)) throw refuse(`no literal encoding for type ${type}`);
  const n = checkedInteger(value, scalar as IntegerType);
  return trusted(n < 0n ? `(${n})` : `${n}`);
}

/** `(v1, v2, ...)` for IN; an empty list is refused (IN () is a syntax error). */
export function literalList(values: readonly SqlValue[], type: ColumnType): Sql {
  if (values.length === 0) throw refuse('an IN list needs at least one value');
  return trusted(`(${values.map((v) => literal(v, type).text).join(', ')})`);
}

/** Table and column names of clickhouse/tables.ts (and their _local twins): the fixed allow-list. */
const IDENTIFIERS: ReadonlySet<string> = new Set([
  MIGRATIONS_TABLE,
  'version',
  'name',
  'applied_ns',
  ...Object.values(TABLES).flatMap((t) => [t.name, t.name + LOCAL_SUFFIX, ...t.columns.map((col) => col.name)]),
]);

/** A table or column name, refused unless it is one of the store's own. Back-quoted. */
export function identifier(name: string): Sql {
  if (typeof name !== 'string' || !IDENTIFIERS.has(name)) throw refuse(`identifier "${String(name)}" is not one of the store's tables or columns`);
  return trusted('`' + name + '`');
}

/** A database or cluster name from ACKSCOPE_STORE (already checked by store-url.ts; checked again here). */
export function configuredName(name: string): Sql {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) throw refuse(`name "${String(name)}" must match ${NAME_PATTERN.source}`);
  return trusted('`' + name + '`');
}

/** database.table, both checked. */
export function qualifiedTable(database: string, table: string): Sql {
  return sql`${configuredName(database)}.${identifier(table)}`;
}

/** DDL read from migrations/clickhouse/*.sql: files of the repository, trusted like code. */
export function migrationText(text: string): Sql {
  return trusted(text);
}

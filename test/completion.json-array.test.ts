import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { readJsonArrayCompletions } from '../service/routes/completions.js';
import { JsonArraySplitter, JsonArrayShapeError } from '../service/json-array-elements.js';
import { parseCompletion, type CompletionRow } from '../core/completion.js';
import { completionRecord, BASE_NS } from '../fixtures/records.js';
import { isAckscopeError } from '../core/errors.js';
import { testApp } from './helpers/app.js';

const record = (writeId: number, over: Record<string, unknown> = {}) =>
  completionRecord({ writeId, srcPort: 40000, writeBytes: 100, submittedNs: BASE_NS + BigInt(writeId) * 1000n, takesNs: 5000n }, over);

/** The reference: the whole body parsed at once, as the route did before. */
function wholeParse(text: string): CompletionRow[] {
  const body = JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  if (!Array.isArray(body)) throw new Error('not an array');
  const cache = new Map<string, string>();
  return body.map((value, index) => parseCompletion(value, index, cache));
}

/** The streamed reader, fed the body's bytes `size` at a time. */
async function streamed(text: string, size: number): Promise<CompletionRow[]> {
  const bytes = Buffer.from(text, 'utf8');
  const body = new PassThrough();
  const rows = readJsonArrayCompletions(body as unknown as IncomingMessage, 1 << 30);
  for (let i = 0; i < bytes.length; i += size) body.write(bytes.subarray(i, i + size));
  body.end();
  return rows;
}

type Outcome = { rows: CompletionRow[] } | { error: unknown };
const outcome = async (f: () => Promise<CompletionRow[]> | CompletionRow[]): Promise<Outcome> => {
  try {
    return { rows: await f() };
  } catch (error) {
    return { error };
  }
};

const plain = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => record(i)));
const SHAPES: [string, string][] = [
  ['empty array', '[]'],
  ['empty array with spaces', ' \n[ \t\r\n]\n '],
  ['one plain record', plain(1)],
  ['plain records (the fast path)', plain(50)],
  ['plain records with whitespace around the commas (read in place)', `[ ${Array.from({ length: 6 }, (_, i) => JSON.stringify(record(i))).join(' ,\n\t')}\r\n]`],
  ['pretty-printed', JSON.stringify(Array.from({ length: 5 }, (_, i) => record(i)), null, 2)],
  ['keys in another order, spaces', `[ ${Array.from({ length: 4 }, (_, i) => JSON.stringify(Object.fromEntries(Object.entries(record(i)).reverse()))).join(' ,\n ')} ]`],
  ['brackets, commas, quotes and backslashes inside strings', JSON.stringify([record(0, { extra: { a: '],[{}', b: 'say "hi", ok', c: 'C:\\dir\\', d: '\\"', e: '\\\\"]' } }), record(1)])],
  ['nested arrays and objects in extra', JSON.stringify([record(0, { extra: { list: [[1, [2, { x: [3] }]], {}], empty: [] } }), record(1, { extra: { deep: { a: { b: { c: [] } } } } })])],
  ['multi-byte characters (split across chunks)', JSON.stringify([record(0, { status: 'é€😀', extra: { note: 'ünïcødé 😀😀' } }), record(1, { api: 'posix:send' })])],
  ['unicode escapes', '[' + JSON.stringify(record(0)).replace('"ok"', '"\\u006fk"') + ']'],
  ['a byte-order mark', '\uFEFF' + plain(2)],
  ['numbers as strings and safe integers', JSON.stringify([record(0, { submittedNs: 1764061234123456, completedNs: '1764061234123466' })])],
  // refused
  ['not an array (an object)', JSON.stringify(record(0))],
  ['not an array (a string)', '"[1,2]"'],
  ['nothing', ''],
  ['only spaces', '  \n '],
  ['unterminated', plain(2).slice(0, -1)],
  ['cut inside an element', plain(3).slice(0, 200)],
  ['cut inside a string', '[{"flow":{"srcAddr":"127.0'],
  ['trailing comma', plain(2).slice(0, -1) + ',]'],
  ['leading comma', '[,' + plain(1).slice(1)],
  ['two commas', plain(2).replace('},{', '},,{')],
  ['missing comma', plain(2).replace('},{', '} {')],
  ['text between a plain record and its comma', plain(2).replace('},{', '} x,{')],
  ['a plain record then a colon', plain(2).replace('},{', '}:{')],
  ['text after the array', plain(1) + ' x'],
  ['a second array after the first', plain(1) + '[]'],
  ['an element that is not an object', '[1]'],
  ['an element that is null', `[${JSON.stringify(record(0))},null]`],
  ['a bad field in element 2', JSON.stringify([record(0), record(1), record(2, { offsetEnd: -5 })])],
  ['an unknown field in element 1', JSON.stringify([record(0), record(1, { color: 'red' })])],
  ['mismatched brackets inside an element', `[${JSON.stringify(record(0))},{"flow":[}]`],
  ['a closing brace at the top', '[}]'],
  ['single quotes', "[{'a':1}]"],
  ['bare word', '[ok]'],
];

test('a JSON array read as it arrives gives the rows (or the refusal) of the whole-body parse, in every chunking', async () => {
  for (const [label, text] of SHAPES) {
    const expected = await outcome(() => wholeParse(text));
    for (const size of [1, 2, 3, 7, 64, 1 << 20]) {
      const got = await outcome(() => streamed(text, size));
      const where = `${label}, ${size}-byte chunks`;
      if ('rows' in expected) {
        assert.ok('rows' in got, `${where}: refused (${'error' in got ? (got.error as Error).message : ''})`);
        assert.deepEqual(got.rows, expected.rows, where);
      } else {
        assert.ok('error' in got, `${where}: accepted what JSON.parse refuses`);
        assert.ok(isAckscopeError(got.error), `${where}: ${String(got.error)}`);
        // a record the whole parse refused by name is refused the same way
        if (isAckscopeError(expected.error)) assert.equal(got.error.message, expected.error.message, where);
      }
    }
  }
});

test('refusals name the element: its index in the message and the details', async () => {
  const cases: [string, string, number | null, RegExp][] = [
    ['missing comma', plain(3).replace(/\},\{/g, (m, at: number) => (at > 300 ? '} {' : m)), 1, /^record 1: record: element 1 of the array is not JSON/],
    ['trailing comma', plain(2).slice(0, -1) + ',]', 2, /^record 2: record: element 2 is empty/],
    ['unterminated', plain(2).slice(0, -1), 1, /^record 1: record: the array ends before its closing "\]"$/],
    ['bad field', JSON.stringify([record(0), record(1), record(2, { offsetEnd: -5 })]), 2, /^record 2: offsetEnd: /],
    ['not an array', JSON.stringify(record(0)), null, /^body: must be a JSON array/],
    ['after the array', plain(1) + ',', null, /^body: .*text follows the closing/],
  ];
  for (const [label, text, index, message] of cases) {
    const got = await outcome(() => streamed(text, 5));
    assert.ok('error' in got && isAckscopeError(got.error), label);
    const err = got.error as { code: string; message: string; details?: { index?: number } };
    assert.match(err.message, message, label);
    if (index === null) assert.equal(err.code, 'ACKSCOPE_ERR_VALIDATION', label);
    else {
      assert.equal(err.code, 'ACKSCOPE_ERR_COMPLETION_INVALID', label);
      assert.equal(err.details?.index, index, label);
    }
  }
});

test('the splitter hands out each element text exactly, and refuses an element over the limit', () => {
  const texts: string[] = [];
  const s = new JsonArraySplitter(40);
  s.push(Buffer.from('[ {"a":"],"} , [1, [2]] ,"x\\"y", 12 ,'), (t, i) => texts.push(`${i}:${t}`));
  s.push(Buffer.from('null]  '), (t, i) => texts.push(`${i}:${t}`));
  s.end((t, i) => texts.push(`${i}:${t}`));
  assert.deepEqual(texts, ['0:{"a":"],"}', '1:[1, [2]]', '2:"x\\"y"', '3:12', '4:null']);
  const long = new JsonArraySplitter(40);
  assert.throws(
    () => long.push(Buffer.from(`[1,"${'x'.repeat(50)}"]`), () => {}),
    (e: unknown) => e instanceof JsonArrayShapeError && e.index === 1 && /longer than 40/.test(e.message),
  );
  const split = new JsonArraySplitter(40);
  split.push(Buffer.from(`[1,"${'x'.repeat(30)}`), () => {});
  assert.throws(() => split.push(Buffer.from('x'.repeat(30)), () => {}), /element 1 is longer than 40/);
});

test('POST a pretty-printed JSON array: stored like the NDJSON of the same records; a bad element is named', async () => {
  const { app, close } = await testApp();
  try {
    const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'arr', kind: 'import' } })).json().id as number;
    const records = Array.from({ length: 300 }, (_, i) => record(i, i % 7 === 0 ? { extra: { note: `a "quoted", [bracketed] note ${i}` } } : {}));
    const res = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(records, null, 2) });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().received, 300);
    const other = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'nd', kind: 'import' } })).json().id as number;
    const nd = await app.inject({
      method: 'POST',
      url: `/sessions/${other}/completions`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: records.map((r) => JSON.stringify(r)).join('\n'),
    });
    assert.equal(nd.statusCode, 200, nd.body);
    const list = async (sid: number) => (await app.inject({ url: `/sessions/${sid}/completions?limit=1000` })).json().items.map((c: { id?: number }) => ({ ...c, id: 0 }));
    assert.deepEqual(await list(id), await list(other));

    const bad = JSON.stringify([record(0), record(1), { ...record(2), writeId: 'two' }]);
    const refused = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/json' }, payload: bad });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().error.details.index, 2);
    const broken = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/json' }, payload: plain(3).slice(0, 300) });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().error.code, 'ACKSCOPE_ERR_COMPLETION_INVALID');
    assert.equal(broken.json().error.details.index, 1);
    assert.match(broken.json().error.message, /^record 1: record: the array ends before its closing/);
  } finally {
    await close();
  }
});

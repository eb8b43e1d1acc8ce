import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCompletionLine, parseCompletionSpan } from '../core/completion-line.js';
import { parseCompletion } from '../core/completion.js';
import { isAckscopeError } from '../core/errors.js';
import { LineSplitter, LineTooLongError } from '../service/ndjson-lines.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

/** Write i of a 1 KiB-per-write flow, with the optional fields the Node sender writes. */
function record(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return completionRecord(
    { writeId: i, srcPort: 40122, writeBytes: 1024, submittedNs: BASE_NS + BigInt(i) * 10_000n, takesNs: 4_000n },
    {
      writeReturned: 1,
      writableLength: 0,
      tcpInfo: { bytesSent: 2048, bytesAcked: 1024, notsentBytes: 0, unacked: 1, bytesRetrans: 0, rttUs: 20 },
      ...over,
    },
  );
}

/** The reference: JSON.parse then parseCompletion; a row, or the error's code and message. */
function reference(line: string, index: number): unknown {
  try {
    return parseCompletion(JSON.parse(line), index, new Map());
  } catch (err) {
    if (isAckscopeError(err)) return { code: err.code, message: err.message };
    return { notJson: true };
  }
}

/** The fast path: a row, the same error, or undefined (left to the reference). */
function fast(line: string, index: number): unknown {
  try {
    return parseCompletionLine(line, index, new Map());
  } catch (err) {
    if (isAckscopeError(err)) return { code: err.code, message: err.message };
    throw err;
  }
}

const lines: [string, string][] = [
  ['sender form', JSON.stringify(record(7))],
  ['no optional fields', JSON.stringify(record(3, { writeReturned: undefined, writableLength: undefined, tcpInfo: undefined }))],
  ['spaces between tokens', JSON.stringify(record(2), null, 1).replace(/\n/g, ' ')],
  ['tabs and CR', ` \t${JSON.stringify(record(2)).replace(/,/g, ',\t')}\r`],
  ['IPv6 and mapped addresses', JSON.stringify(record(1, { flow: { srcAddr: '::FFFF:127.0.0.1', srcPort: 1, dstAddr: '2001:DB8::1', dstPort: 2 } }))],
  ['shared reading', JSON.stringify(record(9, { tcpInfoFrom: 8 }))],
  ['partial tcpInfo', JSON.stringify(record(9, { tcpInfo: { rttUs: 5 } }))],
  ['empty tcpInfo', JSON.stringify(record(9, { tcpInfo: {} }))],
  ['ns as numbers', JSON.stringify(record(1, { submittedNs: 1000, completedNs: 2000 }))],
  ['ns as a long number', JSON.stringify(record(1)).replace(/"submittedNs":"(\d+)"/, '"submittedNs":$1')],
  ['writeReturned −1', JSON.stringify(record(1, { writeReturned: -1 }))],
  ['a fraction', JSON.stringify(record(1)).replace('"buffers":1', '"buffers":1.0')],
  ['an exponent', JSON.stringify(record(1)).replace('"buffers":1', '"buffers":1e0')],
  ['a leading zero', JSON.stringify(record(1)).replace('"buffers":1', '"buffers":01')],
  ['16 digits', JSON.stringify(record(1, { offsetEnd: 9007199254740993 }))],
  ['escaped string', JSON.stringify(record(1, { status: 'E\u00e9"x' }))],
  ['escaped key', JSON.stringify(record(1)).replace('"api"', '"\\u0061pi"')],
  ['raw control character', JSON.stringify(record(1)).replace('"ok"', '"o\tk"')],
  ['duplicate key', JSON.stringify(record(1)).replace('"buffers":1', '"buffers":1,"buffers":2')],
  ['duplicate flow key', JSON.stringify(record(1)).replace('"srcPort":40122', '"srcPort":40122,"srcPort":1')],
  ['unknown key', JSON.stringify(record(1, { colour: 'red' }))],
  ['__proto__ key', JSON.stringify(record(1)).replace('{"flow"', '{"__proto__":1,"flow"')],
  ['unknown flow key', JSON.stringify(record(1, { flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2, x: 1 } }))],
  ['unknown tcpInfo key', JSON.stringify(record(1, { tcpInfo: { bytesSent: 1, x: 1 } }))],
  ['extra', JSON.stringify(record(1, { extra: { a: [1, { b: null }] } }))],
  ['null value', JSON.stringify(record(1, { immediate: null }))],
  ['boolean value', JSON.stringify(record(1, { writeReturned: true }))],
  ['flow as a string', JSON.stringify(record(1, { flow: '127.0.0.1' }))],
  ['no flow', JSON.stringify(record(1, { flow: undefined }))],
  ['empty object', '{}'],
  ['array', '[1]'],
  ['trailing garbage', `${JSON.stringify(record(1))}x`],
  ['trailing comma', JSON.stringify(record(1)).replace(/}$/, ',}')],
  ['truncated', JSON.stringify(record(1)).slice(0, 100)],
  ['bad address', JSON.stringify(record(1, { flow: { srcAddr: 'nowhere', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2 } }))],
  ['port too large', JSON.stringify(record(1, { flow: { srcAddr: '127.0.0.1', srcPort: 70000, dstAddr: '127.0.0.1', dstPort: 2 } }))],
  ['end before start', JSON.stringify(record(1, { offsetEnd: 0 }))],
  ['completed before submitted', JSON.stringify(record(1, { completedNs: '1' }))],
  ['ns beyond 64 bits', JSON.stringify(record(1, { completedNs: '9999999999999999999' }))],
  ['ns not decimal', JSON.stringify(record(1, { completedNs: '12a' }))],
  ['ns of 20 digits', JSON.stringify(record(1, { completedNs: '17640612341234567890' }))],
  ['ns with leading zeros', JSON.stringify(record(1, { submittedNs: '0001', completedNs: '0002' }))],
  ['ns empty', JSON.stringify(record(1, { completedNs: '' }))],
  ['ns a negative string', JSON.stringify(record(1, { completedNs: '-5' }))],
  ['ns as a number', JSON.stringify(record(1, { submittedNs: 5, completedNs: 6 }))],
  ['missing writeId', JSON.stringify(record(1, { writeId: undefined }))],
  ['empty api', JSON.stringify(record(1, { api: '' }))],
  ['zero buffers', JSON.stringify(record(1, { buffers: 0 }))],
  ['tcpInfoFrom without tcpInfo', JSON.stringify(record(1, { tcpInfo: undefined, tcpInfoFrom: 0 }))],
  ['bytesReported beyond the write', JSON.stringify(record(1, { bytesReported: 5000 }))],
  ['a status longer than one seen', JSON.stringify(record(1, { status: 'okay' }))],
  ['an api shorter than one seen', JSON.stringify(record(1, { api: 'node' }))],
  ['an address longer than one seen', JSON.stringify(record(1, { flow: { srcAddr: '127.0.0.12', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2 } }))],
  ['the sender form again', JSON.stringify(record(8))],
];

test('an NDJSON line read by the fast path gives what JSON.parse + parseCompletion give, or is left to them', () => {
  let handled = 0;
  for (const [name, line] of lines) {
    const expected = reference(line, 5);
    const got = fast(line, 5);
    if (got === undefined) continue; // left to the reference path
    handled++;
    assert.deepEqual(got, expected, `${name}: ${line}`);
  }
  // the plain sender form must take the fast path, or the fast path is dead code
  assert.ok(fast(JSON.stringify(record(7)), 0) !== undefined, 'the sender form is read by the fast path');
  assert.ok(handled >= 12, `fast path handled ${handled} of ${lines.length}`);
});

test('lines read in place in their chunk, with the texts and addresses of one request remembered, give the same', () => {
  // every line after every other: the texts and addresses met before are matched in
  // place (core/completion-line.ts recent()), and must never stand for a longer or
  // shorter one
  const body = Buffer.from(lines.map(([, line]) => line).join('\n') + '\n');
  for (const chunkBytes of [body.length, 700, 64]) {
    const addressCache = new Map<string, string>();
    const splitter = new LineSplitter(1 << 20);
    let n = 0;
    let handled = 0;
    const onSpan = (text: string, start: number, end: number) => {
      const [name, posted] = lines[n];
      const line = posted.endsWith('\r') ? posted.slice(0, -1) : posted; // "\r\n" ends a line
      assert.equal(text.slice(start, end), line);
      let got: unknown;
      try {
        got = parseCompletionSpan(text, start, end, n, addressCache);
      } catch (err) {
        if (!isAckscopeError(err)) throw err;
        got = { code: err.code, message: err.message };
      }
      if (got !== undefined) {
        handled++;
        assert.deepEqual(got, reference(line, n), `${name}, chunks of ${chunkBytes} bytes`);
      }
      n++;
    };
    for (let at = 0; at < body.length; at += chunkBytes) splitter.pushSpans(body.subarray(at, at + chunkBytes), onSpan);
    splitter.endSpans(onSpan);
    assert.equal(n, lines.length);
    assert.ok(handled >= 16, `read in place: ${handled}`);
  }
});

test('the fast path leaves every line it cannot read exactly to JSON.parse', () => {
  const left = ['spaces between tokens', 'escaped string', 'a fraction', 'an exponent', 'a leading zero', '16 digits', 'duplicate key', 'unknown key', 'extra', 'null value', 'trailing garbage', 'truncated', 'raw control character', 'array'];
  for (const name of left) {
    const line = lines.find(([n]) => n === name)![1];
    assert.equal(fast(line, 0), undefined, name);
  }
});

test('NDJSON lines: split across chunks, CRLF, a UTF-8 character cut by a chunk boundary, no final newline', () => {
  const text = '{"a":1}\r\n{"b":"é€"}\n\n{"c":3}';
  const bytes = Buffer.from(text, 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const lines: string[] = [];
    const splitter = new LineSplitter(100);
    splitter.push(bytes.subarray(0, cut), (l) => lines.push(l));
    splitter.push(bytes.subarray(cut), (l) => lines.push(l));
    splitter.end((l) => lines.push(l));
    assert.deepEqual(lines, ['{"a":1}', '{"b":"é€"}', '', '{"c":3}'], `cut at byte ${cut}`);
  }
});

test('NDJSON lines: a line longer than the limit is refused, finished or not', () => {
  assert.throws(() => new LineSplitter(5).push(Buffer.from('123456\n'), () => {}), LineTooLongError);
  assert.throws(() => new LineSplitter(5).push(Buffer.from('123456'), () => {}), LineTooLongError);
  const lines: string[] = [];
  const ok = new LineSplitter(5);
  ok.push(Buffer.from('12345\n1234'), (l) => lines.push(l));
  ok.end((l) => lines.push(l));
  assert.deepEqual(lines, ['12345', '1234']);
});

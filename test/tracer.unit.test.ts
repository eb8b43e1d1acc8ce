import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TracerError } from '../tracer/errors.js';
import { parseTracerLine, type TracerEvent } from '../tracer/events.js';
import { joinMoments } from '../tracer/join.js';
import { traceArgs, traceOutcome } from '../tracer/run.js';

/** The pure parts of the kernel tracer: its event parser, the join of moments to calls, the exit mapping. */

const FLOW = { srcAddr: '127.0.0.1', srcPort: 40000, dstAddr: '127.0.0.1', dstPort: 9000 };
const T0 = 1_796_603_531_000_000_000n;
const ns = (us: number) => (T0 + BigInt(Math.round(us * 1000))).toString();

function call(p: Partial<Record<string, unknown>> & { offsetStart: number; offsetEnd: number; enterUs: number }): string {
  const { enterUs, ...rest } = p;
  return JSON.stringify({
    type: 'call', pid: 10, tid: 11, syscall: 'sendto', api: 'linux:sendto', fd: 3, flow: FLOW, flowId: 1,
    seqStart: 1000 + p.offsetStart, seqEnd: 1000 + p.offsetEnd,
    requested: p.offsetEnd - p.offsetStart, returned: p.offsetEnd - p.offsetStart, bytes: p.offsetEnd - p.offsetStart,
    buffers: 1, messages: 1, errno: null, enterNs: ns(enterUs), exitNs: ns(enterUs + 5),
    offsetBasis: 'established', interleaved: false, ...rest,
  });
}
function tx(moment: string, offsetStart: number, offsetEnd: number, us: number): string {
  return JSON.stringify({
    type: 'moment', moment, flowId: 1, flow: FLOW, seq: 1000 + offsetStart, endSeq: 1000 + offsetEnd,
    offsetStart, offsetEnd, fin: false, cpu: 0, ns: ns(us),
  });
}
function ack(moment: string, ackOffset: number, us: number): string {
  return JSON.stringify({ type: 'moment', moment, flowId: 1, flow: FLOW, ackSeq: 1000 + ackOffset, ackOffset, cpu: 1, ns: ns(us) });
}
const parseAll = (lines: string[]): TracerEvent[] => lines.map(parseTracerLine);

test('the parser reads every event kind the tracer writes', () => {
  const lines = [
    '{"type":"start","mode":"command","pid":7003,"cgroupId":0,"followChildren":true,"clockOffsetNs":"1796603250573992827","clockWindowNs":44,"ns":"1796603531070094466"}',
    '{"type":"call","pid":7003,"tid":7003,"syscall":"sendto","api":"linux:sendto","fd":3,"flow":{"srcAddr":"127.0.0.1","srcPort":46614,"dstAddr":"127.0.0.1","dstPort":9100},"flowId":1,"seqStart":2549304154,"seqEnd":2549404154,"offsetStart":0,"offsetEnd":100000,"requested":100000,"returned":100000,"bytes":100000,"buffers":1,"messages":1,"errno":null,"enterNs":"1796603531217861751","exitNs":"1796603531217963128","offsetBasis":"established","interleaved":false}',
    '{"type":"moment","moment":"qdisc-in","flowId":1,"flow":{"srcAddr":"127.0.0.1","srcPort":46614,"dstAddr":"127.0.0.1","dstPort":9100},"seq":2549304154,"endSeq":2549336895,"offsetStart":0,"offsetEnd":32741,"fin":false,"cpu":1,"ns":"1796603531217921502"}',
    '{"type":"moment","moment":"ack-arrived","flowId":1,"flow":{"srcAddr":"127.0.0.1","srcPort":46614,"dstAddr":"127.0.0.1","dstPort":9100},"ackSeq":2549336895,"ackOffset":32741,"cpu":1,"ns":"1796603531217933388"}',
    '{"type":"uncovered","pid":5,"tid":6,"syscall":"sendfile","api":"linux:sendfile","fd":4,"returned":1000,"bytes":1000,"flowId":2,"flow":{"srcAddr":"::1","srcPort":1,"dstAddr":"::1","dstPort":2},"enterNs":"1","exitNs":"2"}',
    '{"type":"uncovered","pid":5,"tid":7,"syscall":null,"api":"kernel:sock_sendmsg","fd":-1,"returned":10,"bytes":10,"flowId":null,"flow":null,"enterNs":"1","exitNs":"1"}',
    '{"type":"stats","final":true,"lost":0,"callsSeen":34,"calls":5,"callsNotTcp":29,"uncovered":0,"sendsOutsideSyscall":0,"moments":25,"momentsWithoutAnchor":0,"inflightFull":0,"events":30,"clockOffsetNs":"1796603250573992827","clockWindowNs":44,"ns":"1796603531432588467"}',
    '{"type":"exit","pid":7003,"exitCode":0,"signal":null}',
    '{"type":"exit","pid":7003,"exitCode":null,"signal":"SIGSEGV"}',
  ];
  const events = parseAll(lines);
  assert.deepEqual(events.map((e) => e.type), ['start', 'call', 'moment', 'moment', 'uncovered', 'uncovered', 'stats', 'exit', 'exit']);
  const c = events[1];
  assert.ok(c?.type === 'call');
  assert.equal(c.offsetEnd, 100000);
  assert.equal(c.enterNs, '1796603531217861751');
  assert.deepEqual(c.flow, { srcAddr: '127.0.0.1', srcPort: 46614, dstAddr: '127.0.0.1', dstPort: 9100 });
  const a = events[3];
  assert.ok(a?.type === 'moment' && 'ackOffset' in a && a.ackOffset === 32741);
});

test('the parser refuses a bad line with a TracerError naming the field', () => {
  const good = JSON.parse(call({ offsetStart: 0, offsetEnd: 10, enterUs: 0 })) as Record<string, unknown>;
  const cases: [Record<string, unknown> | string, string][] = [
    ['not json', '(json)'],
    [{ ...good, type: 'nope' }, 'type'],
    [{ ...good, offsetEnd: -1 }, 'offsetEnd'],
    [{ ...good, offsetStart: 20 }, 'offsetEnd'],
    [{ ...good, enterNs: 12 }, 'enterNs'],
    [{ ...good, exitNs: '1' }, 'exitNs'],
    [{ ...good, syscall: 'read' }, 'syscall'],
    [{ ...good, errno: 'oops' }, 'errno'],
    [{ ...good, flow: { ...FLOW, dstPort: 70000 } }, 'dstPort'],
  ];
  for (const [input, field] of cases) {
    const line = typeof input === 'string' ? input : JSON.stringify(input);
    assert.throws(() => parseTracerLine(line), (err: unknown) => {
      assert.ok(err instanceof TracerError);
      assert.equal(err.code, 'ACKSCOPE_ERR_TRACER_EVENT');
      assert.equal(err.details?.field, field, line);
      return true;
    });
  }
});

test('the join gives each call the moments of its last byte, in call order per flow', () => {
  const events = parseAll([
    call({ offsetStart: 0, offsetEnd: 100, enterUs: 0 }),
    call({ offsetStart: 100, offsetEnd: 300, enterUs: 10 }),
    tx('qdisc-in', 0, 150, 2),
    tx('driver', 0, 150, 3),
    tx('qdisc-in', 150, 300, 12),
    tx('driver', 150, 300, 13),
    ack('ack-arrived', 150, 20),
    ack('ack-processed', 150, 21),
    ack('ack-arrived', 301, 30), // the FIN counts one more
  ]);
  const r = joinMoments(events);
  assert.equal(r.completions.length, 2);
  const [w0, w1] = r.completions;
  assert.ok(w0 && w1);
  assert.deepEqual([w0.record.writeId, w1.record.writeId], [0, 1]);
  assert.equal(w0.kernel.byte, 99);
  assert.equal(w0.kernel.qdiscInNs, ns(2));
  assert.equal(w0.kernel.driverNs, ns(3));
  assert.equal(w0.kernel.ackArrivedNs, ns(20));
  assert.equal(w0.kernel.ackProcessedNs, ns(21));
  assert.equal(w0.kernel.qdiscOutNs, null); // loopback has no qdisc: missing, not invented
  assert.equal(w1.kernel.byte, 299);
  assert.equal(w1.kernel.driverNs, ns(13));
  assert.equal(w1.kernel.ackArrivedNs, ns(30));
  assert.equal(w1.kernel.ackProcessedNs, null); // after close(): tcp_probe is silent
  assert.deepEqual(r.missing, { qdiscIn: 0, qdiscOut: 2, driver: 0, ackArrived: 0, ackProcessed: 1 });
  assert.equal(w1.record.submittedNs, ns(10));
  assert.equal(w1.record.completedNs, ns(15));
  assert.equal(w1.record.status, 'ok');
  assert.equal(w1.record.api, 'linux:sendto');
  assert.equal(w1.record.extra.tid, 11);
});

test('a lost transmit event leaves the moment missing; a retransmission is marked, the first transmission kept', () => {
  const events = parseAll([
    call({ offsetStart: 0, offsetEnd: 100, enterUs: 0 }),
    call({ offsetStart: 100, offsetEnd: 200, enterUs: 1 }),
    call({ offsetStart: 200, offsetEnd: 300, enterUs: 2 }),
    tx('driver', 0, 100, 5),
    // 100..200 never reached the tracer
    tx('driver', 200, 300, 7),
    tx('retransmit', 200, 300, 50),
    tx('driver', 200, 300, 51),
  ]);
  const r = joinMoments(events);
  const [a, b, c] = r.completions;
  assert.ok(a && b && c);
  assert.equal(a.kernel.driverNs, ns(5));
  assert.equal(b.kernel.driverNs, null);
  assert.equal(c.kernel.driverNs, ns(7));
  assert.equal(c.kernel.retransmitted, true);
  assert.equal(a.kernel.retransmitted, false);
  assert.equal(r.missing.driver, 1);
});

test('partial and failed calls: bytesReported, status, offsets as posted', () => {
  const events = parseAll([
    call({ offsetStart: 0, offsetEnd: 600, enterUs: 0, requested: 1000, returned: 600, bytes: 600 }),
    call({ offsetStart: 600, offsetEnd: 600, enterUs: 1, requested: 400, returned: -11, bytes: 0, errno: 'EAGAIN' }),
    call({ offsetStart: 600, offsetEnd: 1000, enterUs: 2, syscall: 'sendmmsg', api: 'linux:sendmmsg', returned: 2, bytes: 400, messages: 2, buffers: 4 }),
    tx('driver', 0, 1000, 3),
  ]);
  const r = joinMoments(events);
  const [p, f, m] = r.completions;
  assert.ok(p && f && m);
  assert.deepEqual([p.record.offsetStart, p.record.offsetEnd, p.record.bytesReported], [0, 1000, 600]);
  assert.equal(p.kernel.byte, 599);
  assert.deepEqual([f.record.status, f.record.bytesReported, f.record.offsetEnd, f.kernel.byte], ['EAGAIN', 0, 1000, null]);
  assert.deepEqual([m.record.bytesReported, m.record.buffers, m.record.writeReturned], [400, 4, 2]);
  assert.equal(r.noBytes, 1);
});

test('calls are numbered per flow in the order they were made', () => {
  const other = { ...FLOW, srcPort: 40001 };
  const events = parseAll([
    call({ offsetStart: 100, offsetEnd: 200, enterUs: 5 }),
    call({ offsetStart: 0, offsetEnd: 50, enterUs: 1, flowId: 2, flow: other }),
    call({ offsetStart: 0, offsetEnd: 100, enterUs: 0 }),
  ]);
  const r = joinMoments(events);
  assert.deepEqual(
    r.completions.map((c) => [c.record.flow.srcPort, c.record.writeId, c.record.offsetStart]),
    [[40000, 0, 0], [40000, 1, 100], [40001, 0, 0]],
  );
});

test('the tracer\'s exit codes become TracerError codes; a command\'s own code is passed through', () => {
  assert.deepEqual(traceArgs({ pid: 5, followChildren: true }, { lingerMs: 10 }), ['--events-fd', '3', '--events-format', 'binary', '--linger-ms', '10', '--pid', '5', '--follow-children']);
  assert.deepEqual(traceArgs({ command: ['curl', '-s'] }), ['--events-fd', '3', '--events-format', 'binary', '--', 'curl', '-s']);
  const e = traceOutcome(66, null, 'ackscope-tracer: error NO_BTF: kernel has no BTF (x)\n', null, null);
  assert.ok(e instanceof TracerError);
  assert.equal(e.code, 'ACKSCOPE_ERR_TRACER_NO_BTF');
  assert.equal(e.message, 'kernel has no BTF (x)');
  const ok = traceOutcome(66, null, '', { type: 'exit', pid: 3, exitCode: 66, signal: null }, null);
  assert.ok(!(ok instanceof TracerError));
  assert.equal(ok.exit?.exitCode, 66);
  const crash = traceOutcome(null, 'SIGKILL', '', null, null);
  assert.ok(crash instanceof TracerError);
});

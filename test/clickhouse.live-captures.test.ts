// Several hosts' live captures of one session (clickhouse/live-captures.ts, pure part):
// the session a reader gets from its hosts' capture rows. The same with real services and
// real captures: service.hosts.test.ts and crash.recovery.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeLiveCaptures, newLiveCapture, updatedLiveCapture, type LiveCaptureRow } from '../clickhouse/live-captures.js';
import { newSessionRow } from '../clickhouse/sessions.js';

const session = () => newSessionRow(7, { name: 'fleet', kind: 'live', interface: 'lo', filter: 'tcp port 1' });

function capture(host: string, fields: Partial<LiveCaptureRow>, storedNs: bigint): LiveCaptureRow {
  return { ...updatedLiveCapture(newLiveCapture(7, host, 'lo', null), fields as Record<string, unknown>, storedNs), stored_ns: storedNs };
}

test('a live session without capture rows reads as its row says; one host alone gives its own figures', () => {
  const row = session();
  assert.deepEqual(mergeLiveCaptures(row, []), row);
  const only = capture('host-a', {
    state: 'failed', failure_reason: 'interrupted', started_ns: 10n, stopped_ns: 20n, link_type: 1, frames_total: 5, frames_tcp: 4,
    skipped_not_tcp: 1, skip_reasons: '{"not tcp":1}', pcap_received: 5, pcap_dropped: 0, pcap_if_dropped: 0,
  }, row.updated_ns + 5n);
  const merged = mergeLiveCaptures(row, [only]);
  assert.deepEqual(
    [merged.state, merged.failure_reason, merged.started_ns, merged.stopped_ns, merged.link_type, merged.frames_total, merged.frames_tcp, merged.skipped_not_tcp, merged.skip_reasons, merged.pcap_received, merged.pcap_dropped, merged.updated_ns],
    ['failed', 'interrupted', 10n, 20n, 1, 5, 4, 1, '{"not tcp":1}', 5, 0, row.updated_ns + 5n],
  );
});

test('two hosts: capturing while either captures, stopped when the last stops (one failed host does not fail the session), counters summed', () => {
  const row = session();
  const a = capture('host-a', { state: 'capturing', started_ns: 100n, frames_total: 10, frames_tcp: 10, skip_reasons: '{"a":1}', pcap_received: 10, pcap_dropped: 1 }, 1n);
  const b = capture('host-b', { state: 'capturing', started_ns: 50n, frames_total: 7, frames_tcp: 6, skip_reasons: '{"a":2,"b":1}', pcap_dropped: 2 }, 2n);
  let m = mergeLiveCaptures(row, [a, b]);
  assert.deepEqual([m.state, m.started_ns, m.stopped_ns, m.frames_total, m.frames_tcp, m.pcap_received, m.pcap_dropped, m.pcap_if_dropped], ['capturing', 50n, null, 17, 16, 10, 3, null]);
  assert.deepEqual(JSON.parse(m.skip_reasons!), { a: 3, b: 1 });
  const aStopped = { ...a, state: 'stopped' as const, stopped_ns: 300n };
  m = mergeLiveCaptures(row, [aStopped, b]);
  assert.equal(m.state, 'capturing', 'host B still captures');
  const bFailed = { ...b, state: 'failed' as const, failure_reason: 'interrupted', stopped_ns: 200n };
  m = mergeLiveCaptures(row, [aStopped, bFailed]);
  assert.deepEqual([m.state, m.failure_reason, m.stopped_ns], ['stopped', null, 300n]);
  m = mergeLiveCaptures(row, [{ ...aStopped, state: 'failed', failure_reason: 'interface gone' }, bFailed]);
  assert.deepEqual([m.state, m.failure_reason], ['failed', 'host-a: interface gone; host-b: interrupted']);
});

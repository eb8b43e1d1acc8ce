/**
 * The robustness corpus: 213 capture files from tcpdump's own test suite (BSD licence,
 * ../shared/pcaps/tcpdump-tests/LICENSE), many deliberately broken. They live beside the
 * project, not in it (../shared/pcaps/README.md asks not to copy them). Through the real API,
 * every file is either imported — with the frame count tshark reads — or refused with
 * 400 ACKSCOPE_ERR_CAPTURE_FILE naming a byte offset, leaving nothing behind. Never a
 * 500, a crash or a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testApp } from './helpers/app.js';

const CORPUS = process.env.ACKSCOPE_PCAP_CORPUS ?? fileURLToPath(new URL('../../shared/pcaps/tcpdump-tests/', import.meta.url));
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f !== 'LICENSE').sort() : [];

/** tshark's frame count, or null when tshark itself refuses or stops early on the file. */
function tsharkFrames(path: string): number | null {
  try {
    const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.number'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    return out.trim() === '' ? 0 : out.trim().split('\n').length;
  } catch {
    return null;
  }
}

/**
 * Files where ackscope decodes deliberately what this tshark (4.0) does not; each reason
 * is checked by hand against tcpdump's own reading of the file.
 */
const TSHARK_DIFFERS: Record<string, string> = {
  'bigtcp-ipv6.pcap':
    'a Linux BIG TCP IPv6 super-frame: payload length 0, no jumbo option; ackscope takes the length ' +
    'from the wire length (docs/design-notes.md: super-frames are ranges), tshark 4.0 marks it malformed',
};

/** tshark's first TCP layer per frame number: "seq ack len" (ICMP-quoted and tunnelled layers come later). */
function tsharkTcp(path: string): Map<number, string> | null {
  try {
    const out = execFileSync(
      'tshark',
      ['-r', path, '-Y', 'tcp', '-T', 'fields', '-E', 'occurrence=f', '-e', 'frame.number', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
    );
    const map = new Map<number, string>();
    for (const line of out.trim().split('\n')) {
      if (!line) continue;
      const [no, seq, ack, len] = line.split('\t');
      map.set(Number(no), `${seq} ${ack} ${len}`);
    }
    return map;
  } catch {
    return null;
  }
}

test(`every file of the tcpdump corpus (${files.length}) is taken or refused cleanly`, async () => {
  assert.ok(existsSync(CORPUS), `the tcpdump corpus is not at ${CORPUS}: it lives beside the project (../shared/pcaps), or set ACKSCOPE_PCAP_CORPUS`);
  assert.ok(files.length >= 200, `corpus has ${files.length} files`);
  const t = await testApp();
  let taken = 0;
  let refused = 0;
  const countMismatches: string[] = [];
  const tcpMismatches: string[] = [];
  let tcpFrames = 0;
  try {
    for (const name of files) {
      const created = await t.app.inject({ method: 'POST', url: '/sessions', payload: { name, kind: 'import' } });
      const id = created.json().id;
      const res = await t.app.inject({
        method: 'POST',
        url: `/sessions/${id}/import?filename=${encodeURIComponent(name)}`,
        headers: { 'content-type': 'application/octet-stream' },
        payload: readFileSync(join(CORPUS, name)),
      });
      if (res.statusCode === 200) {
        taken++;
        const frames = res.json().session.counts.frames;
        const expected = tsharkFrames(join(CORPUS, name));
        if (expected !== null && expected !== frames) countMismatches.push(`${name}: ours ${frames}, tshark ${expected}`);
        if (res.json().session.counts.tcp > 0) {
          const theirs = tsharkTcp(join(CORPUS, name));
          const ours = (await t.app.inject({ url: `/sessions/${id}/frames?limit=10000` })).json().items as {
            frameNo: number;
            seqRaw: number;
            ackRaw: number;
            payloadLen: number;
          }[];
          for (const f of ours) {
            const mine = `${f.seqRaw} ${f.ackRaw} ${f.payloadLen}`;
            const their = theirs?.get(f.frameNo);
            if (theirs && their !== mine && !(name in TSHARK_DIFFERS)) tcpMismatches.push(`${name} frame ${f.frameNo}: ours ${mine}, tshark ${their ?? 'no TCP'}`);
          }
          tcpFrames += ours.length;
        }
        continue;
      }
      assert.equal(res.statusCode, 400, `${name}: ${res.statusCode} ${res.body}`);
      const err = res.json().error;
      assert.equal(err.code, 'ACKSCOPE_ERR_CAPTURE_FILE', `${name}: ${res.body}`);
      assert.match(err.message, /^capture file, byte \d+: /, name);
      assert.equal(typeof err.details.byteOffset, 'number', name);
      refused++;
      const session = (await t.app.inject({ url: `/sessions/${id}` })).json();
      assert.equal(session.counts.frames, 0, `${name}: nothing kept after a refusal`);
      assert.deepEqual((await t.app.inject({ url: `/sessions/${id}/flows` })).json().items, [], name);
    }
    const frames = t.app.db.prepare('SELECT COUNT(*) FROM frames').pluck().get() as number;
    assert.ok(frames > 0);
    console.log(`corpus: ${taken} taken, ${refused} refused, ${frames} TCP frames stored`);
    console.log(`corpus: ${tcpFrames} TCP frames compared with tshark's seq/ack/len`);
    assert.deepEqual(countMismatches, [], 'frame counts agree with tshark');
    assert.deepEqual(tcpMismatches, [], 'sequence, acknowledgment numbers and lengths agree with tshark');
  } finally {
    await t.close();
  }
});

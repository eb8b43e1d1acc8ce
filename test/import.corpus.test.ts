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
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testApp } from './helpers/app.js';

const CORPUS = process.env.ACKSCOPE_PCAP_CORPUS ?? fileURLToPath(new URL('../../shared/pcaps/tcpdump-tests/', import.meta.url));
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f !== 'LICENSE').sort() : [];

/**
 * Files tshark (4.0) stops reading before their end; each with the words of its refusal.
 * The frames it did read are still compared; a file not listed here on which tshark fails
 * fails the test (nothing is skipped quietly).
 */
const TSHARK_STOPS: Record<string, RegExp> = {
  'dsa-high-vid.pcap': /record data that TShark doesn't support/,
  'hoobr_juniper3.pcap': /record data that TShark doesn't support/,
  'juniper_es_oobr.pcap': /record data that TShark doesn't support/,
  'kday6.pcap': /record data that TShark doesn't support/,
  'vtp_asan-3.pcap': /record data that TShark doesn't support/,
};

/**
 * Runs tshark on a file and hands each line of its output to `onLine` as it comes
 * (streamed: a file of millions of frames is never held whole). Resolves with its exit
 * code and stderr.
 */
async function tsharkLines(args: string[], onLine: (line: string) => void | Promise<void>): Promise<{ code: number; stderr: string }> {
  const child = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = once(child, 'close');
  for await (const line of createInterface({ input: child.stdout })) if (line) await onLine(line);
  const [code] = (await exited) as [number | null];
  return { code: code ?? -1, stderr };
}

/** tshark's frame count, and how it ended. */
async function tsharkFrames(path: string): Promise<{ frames: number; code: number; stderr: string }> {
  let frames = 0;
  const r = await tsharkLines(['-r', path, '-T', 'fields', '-e', 'frame.number'], () => {
    frames++;
  });
  return { frames, ...r };
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

interface OurFrame {
  frameNo: number;
  seqRaw: number;
  ackRaw: number;
  payloadLen: number;
}

/** Every TCP frame ackscope stored for a session, page by page through the API. */
async function* ourFrames(app: Awaited<ReturnType<typeof testApp>>['app'], id: number): AsyncGenerator<OurFrame> {
  let cursor: string | null = null;
  do {
    const res: { statusCode: number; body: string; json: () => { items: OurFrame[]; nextCursor: string | null } } = await app.inject({
      url: `/sessions/${id}/frames?limit=10000${cursor ? `&cursor=${cursor}` : ''}`,
    });
    assert.equal(res.statusCode, 200, res.body);
    yield* res.json().items;
    cursor = res.json().nextCursor;
  } while (cursor);
}

/**
 * Every frame ackscope stored against tshark's first TCP layer of the same frame number
 * ("seq ack len"; ICMP-quoted and tunnelled layers come later), both walked in frame
 * order as tshark prints. Returns the frames compared and the disagreements.
 */
async function compareTcp(app: Awaited<ReturnType<typeof testApp>>['app'], id: number, path: string, name: string) {
  const ours = ourFrames(app, id)[Symbol.asyncIterator]();
  let next = await ours.next();
  let compared = 0;
  const mismatches: string[] = [];
  const unmatched = (f: OurFrame, theirs: string) => `${name} frame ${f.frameNo}: ours ${f.seqRaw} ${f.ackRaw} ${f.payloadLen}, tshark ${theirs}`;
  const r = await tsharkLines(
    ['-r', path, '-Y', 'tcp', '-T', 'fields', '-E', 'occurrence=f', '-e', 'frame.number', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len'],
    async (line) => {
      const [no, seq, ack, len] = line.split('\t');
      const frameNo = Number(no);
      // our frames before this one that tshark has no TCP layer for
      while (!next.done && next.value.frameNo < frameNo) {
        compared++;
        mismatches.push(unmatched(next.value, 'no TCP'));
        next = await ours.next();
      }
      if (!next.done && next.value.frameNo === frameNo) {
        compared++;
        const f = next.value;
        if (`${f.seqRaw} ${f.ackRaw} ${f.payloadLen}` !== `${seq} ${ack} ${len}`) mismatches.push(unmatched(f, `${seq} ${ack} ${len}`));
        next = await ours.next();
      }
    },
  );
  // what tshark never printed: no TCP layer, or past where it stopped reading
  for (; !next.done; next = await ours.next()) {
    compared++;
    if (r.code === 0) mismatches.push(unmatched(next.value, 'no TCP'));
  }
  return { compared, mismatches: name in TSHARK_DIFFERS ? [] : mismatches, code: r.code, stderr: r.stderr };
}

test(`every file of the tcpdump corpus (${files.length}) is taken or refused cleanly`, async () => {
  assert.ok(existsSync(CORPUS), `the tcpdump corpus is not at ${CORPUS}: it lives beside the project (../shared/pcaps), or set ACKSCOPE_PCAP_CORPUS`);
  assert.ok(files.length >= 200, `corpus has ${files.length} files`);
  // tshark is the witness: without it the comparison below would mean nothing
  assert.doesNotThrow(() => execFileSync('tshark', ['--version'], { stdio: 'ignore' }), 'tshark must be installed (scripts/setup.sh installs it)');
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
        const theirs = await tsharkFrames(join(CORPUS, name));
        if (theirs.code !== 0) {
          // tshark stopped before the end: only a file known to stop it, and for the reason known
          assert.ok(name in TSHARK_STOPS, `${name}: tshark failed (${theirs.code}): ${theirs.stderr}`);
          assert.match(theirs.stderr, TSHARK_STOPS[name], name);
          if (theirs.frames > frames) countMismatches.push(`${name}: ours ${frames}, tshark read ${theirs.frames} before stopping`);
        } else if (theirs.frames !== frames) {
          countMismatches.push(`${name}: ours ${frames}, tshark ${theirs.frames}`);
        }
        if (res.json().session.counts.tcp > 0) {
          const tcp = await compareTcp(t.app, id, join(CORPUS, name), name);
          assert.ok(tcp.code === 0 || name in TSHARK_STOPS, `${name}: tshark failed (${tcp.code}): ${tcp.stderr}`);
          tcpMismatches.push(...tcp.mismatches);
          tcpFrames += tcp.compared;
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

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { runProcess } from '../../sender/c/wine.js';
import { decodeTag, TAG_BYTES, type WriteTag } from '../../capture/decode/tag.js';

/**
 * The wire, as an independent witness: tcpdump writes the capture, tshark (not ackscope's
 * own decoder) reassembles the sender's byte stream from it, and the write tags are read
 * back from that stream. Used where a test checks what the C senders put on the wire.
 */
export interface Tcpdump {
  /** Stops the capture; resolves with tcpdump's count of packets the kernel dropped. */
  stop(): Promise<number>;
}

/**
 * Starts `tcpdump -i IFACE -w FILE -s 0 -U FILTER` (inside `netns` when given: an
 * interface exists only in its own namespace) and waits until it is listening.
 */
export async function startTcpdump(iface: string, file: string, filter: string, netns?: string): Promise<Tcpdump> {
  // immediate mode + -U: each packet reaches the file as it is captured, so stopping
  // after the traffic has ended loses nothing still sitting in the capture buffer
  const args = ['-i', iface, '-w', file, '-s', '0', '-B', '65536', '-U', '--immediate-mode', '-n', filter];
  const child: ChildProcess = netns
    ? spawn('ip', ['netns', 'exec', netns, 'tcpdump', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('listening on')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${stderr}`)));
    child.on('error', reject);
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await fileSettled(file);
        const exited = once(child, 'exit');
        child.kill('SIGINT'); // tcpdump flushes its file and prints its counters on SIGINT
        await exited;
      }
      const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
      return dropped ? Number(dropped[1]) : 0;
    },
  };
}

/** Waits until the file has stopped growing (two looks 100 ms apart agree). */
async function fileSettled(file: string): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const size = existsSync(file) ? statSync(file).size : 0;
    if (size === last) return;
    last = size;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The payload bytes the side with source port `srcPort` sent, placed at their stream
 * offsets (tshark's relative sequence numbers: the first payload byte is seq 1).
 * `holes` counts offsets below the end that no captured segment covered.
 */
export async function sentStream(pcapFile: string, srcPort: number): Promise<{ bytes: Buffer; holes: number }> {
  const r = await runProcess(
    'tshark',
    ['-r', pcapFile, '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', `tcp.srcport==${srcPort} && tcp.len>0`, '-T', 'fields', '-e', 'tcp.seq', '-e', 'tcp.payload'],
    { timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  const segments: { offset: number; data: Buffer }[] = [];
  let end = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [seq, hex] = line.split('\t');
    if (hex === undefined) throw new Error(`tshark printed no payload for the segment at seq ${seq}: ${line}`);
    const data = Buffer.from(hex.replace(/:/g, ''), 'hex');
    const offset = Number(seq) - 1;
    segments.push({ offset, data });
    end = Math.max(end, offset + data.length);
  }
  const bytes = Buffer.alloc(end);
  const covered = new Uint8Array(end);
  for (const s of segments) {
    s.data.copy(bytes, s.offset);
    covered.fill(1, s.offset, s.offset + s.data.length);
  }
  let holes = 0;
  for (let i = 0; i < end; i++) if (!covered[i]) holes++;
  return { bytes, holes };
}

export interface TagOnWire extends WriteTag {
  /** Where the header was found in the stream. */
  at: number;
}

/**
 * Walks the stream header to header: a tag at 0, the next at 0 + its length, and so on.
 * Stops at the first position that does not hold a tag (returned as `brokenAt`), so a
 * write that reached the wire torn, reordered or short shows up as a broken walk.
 */
export function walkTags(stream: Buffer): { tags: TagOnWire[]; brokenAt: number | null } {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const tags: TagOnWire[] = [];
  let at = 0;
  while (at < stream.length) {
    const tag: WriteTag = { writeId: 0, length: 0, offset: 0 };
    if (at + TAG_BYTES > stream.length || !decodeTag(view, at, tag) || tag.length < TAG_BYTES) return { tags, brokenAt: at };
    tags.push({ ...tag, at });
    at += tag.length;
  }
  return { tags, brokenAt: null };
}

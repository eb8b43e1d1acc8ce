/**
 * Live-test helpers for the kernel tracer: a counting receiver (the independent witness of
 * the bytes), a tcpdump capture on lo (the independent witness of the times), and the
 * check that no tracer program or map is left in the kernel.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const TRACER_PROGRAMS = [
  'on_sys_enter', 'on_sys_exit', 'on_tcp_sendmsg_locked', 'on_sock_send_length', 'on_net_dev_queue',
  'on_qdisc_dequeue', 'on_net_dev_start_xmit', 'on_netif_receive_skb', 'on_tcp_probe',
  'on_tcp_retransmit_skb', 'on_inet_sock_set_state', 'on_sched_process_fork',
];

/** Tracer programs and maps currently in the kernel (bpftool). */
export function tracerLeftovers(): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as { name?: string }[];
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as { name?: string }[];
  return [
    ...progs.filter((p) => p.name && TRACER_PROGRAMS.includes(p.name)).map((p) => `prog ${p.name}`),
    ...maps.filter((m) => m.name?.startsWith('ackscope.')).map((m) => `map ${m.name}`),
  ];
}

/** Waits (the kernel frees programs shortly after the last fd closes) and asserts none is left. */
export async function assertNoTracerLeft(why: string): Promise<void> {
  let left: string[] = [];
  for (let i = 0; i < 40; i++) {
    left = tracerLeftovers();
    if (left.length === 0) return;
    await sleep(50);
  }
  assert.deepEqual(left, [], `${why}: tracer left behind in the kernel`);
}

export interface CountingReceiver {
  port: number;
  /** Bytes read per connection, by the client's port. */
  bytes: Map<number, number>;
  /** Resolves when `n` connections have closed. */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A receiver that reads everything and counts it. `http`: answers one HTTP request per
 * connection (100-continue when asked, 200 once Content-Length bytes of body arrived).
 */
export async function countingReceiver(opts: { http?: boolean; host?: string } = {}): Promise<CountingReceiver> {
  const bytes = new Map<number, number>();
  let closedCount = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((c: Socket) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    const port = c.remotePort ?? 0;
    bytes.set(port, 0);
    let head = '';
    let bodyWanted = -1;
    let bodyGot = 0;
    c.on('data', (d: Buffer) => {
      bytes.set(port, (bytes.get(port) ?? 0) + d.length);
      if (!opts.http) return;
      if (bodyWanted < 0) {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          return;
        }
        const m = /content-length:\s*(\d+)/i.exec(head.slice(0, end));
        bodyWanted = m ? Number(m[1]) : 0;
        bodyGot = head.length - end - 4;
        if (/expect:\s*100-continue/i.test(head.slice(0, end)) && bodyGot === 0) c.write('HTTP/1.1 100 Continue\r\n\r\n');
      } else {
        bodyGot += d.length;
      }
      if (bodyGot >= bodyWanted) c.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    c.on('close', () => {
      closedCount++;
      for (const w of waiters.filter((w) => closedCount >= w.n)) w.resolve();
    });
    c.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, opts.host ?? '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    bytes,
    closed: (n) => (closedCount >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => {
      for (const c of sockets) c.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export interface CapturedSegment {
  ns: bigint;
  srcPort: number;
  dstPort: number;
  seq: number;
  len: number;
}

export interface Capture {
  stop(): Promise<{ segments: CapturedSegment[]; dropped: number; stderr: string }>;
}

/** tcpdump on lo with kernel nanosecond stamps, a 64 MiB buffer, for one port. */
export async function captureLo(dir: string, port: number): Promise<Capture> {
  const file = join(dir, `lo-${port}.pcap`);
  const p = spawn(
    'tcpdump',
    ['-i', 'lo', '-n', '-B', '65536', '-j', 'adapter_unsynced', '--time-stamp-precision=nano', '-s', '128', '-w', file, `tcp port ${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await sleep(50);
  assert.match(stderr, /listening/, `tcpdump did not start: ${stderr}`);
  let stopped: ReturnType<Capture['stop']> | null = null;
  return {
    stop() {
      stopped ??= stopOnce();
      return stopped;
    },
  };
  async function stopOnce(): ReturnType<Capture['stop']> {
      // libpcap hands packets over in ring blocks, at the latest after tcpdump's 1 s
      // timeout; frames still in an unfinished block are lost on SIGINT (and not counted
      // as dropped), so wait that block out first.
      await sleep(1300);
      const exited = new Promise((r) => p.once('close', r));
      p.kill('SIGINT');
      await exited;
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? NaN);
      const text = execFileSync('tcpdump', ['-r', file, '-nn', '-S', '--time-stamp-precision=nano', '-tt'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 256 << 20,
      });
      const segments: CapturedSegment[] = [];
      for (const line of text.split('\n')) {
        // 1796603531.217921502 IP 127.0.0.1.46614 > 127.0.0.1.9100: Flags [P.], seq 1:32742, ack 1, ..., length 32741
        const m = /^(\d+)\.(\d{9}) IP6? (\S+)\.(\d+) > (\S+)\.(\d+): .*?seq (\d+):(\d+),/.exec(line);
        if (!m) continue;
        const seq = Number(m[7]);
        const end = Number(m[8]);
        segments.push({
          ns: BigInt(m[1] as string) * 1_000_000_000n + BigInt(m[2] as string),
          srcPort: Number(m[4]),
          dstPort: Number(m[6]),
          seq,
          len: (end - seq + 2 ** 32) % 2 ** 32,
        });
      }
      return { segments, dropped, stderr };
  }
}

/** p50/p99/max of absolute values (ns). */
export function spread(values: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = values.map(Math.abs).sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

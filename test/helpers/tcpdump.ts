/** Real loopback TCP traffic made here, captured by tcpdump -w. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Real loopback traffic captured by tcpdump -w (µs or ns pcap); returns the file. */
export async function tcpdumpCapture(
  dir: string,
  nanoseconds: boolean,
  options: { device?: string; host?: string } = {},
): Promise<string> {
  const device = options.device ?? 'lo';
  const host = options.host ?? '127.0.0.1';
  const file = join(dir, `${nanoseconds ? 'ns' : 'us'}${device === 'lo' ? '' : `-${device}`}${host === '127.0.0.1' ? '' : '-v6'}.pcap`);
  const server = createServer((c) => {
    c.on('data', () => {});
    c.on('end', () => c.end());
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  const args = ['-i', device, '-U', '-n', '--immediate-mode', '-B', '65536', '-w', file, `tcp port ${port}`];
  if (nanoseconds) args.unshift('--time-stamp-precision=nano');
  const tcpdump = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  tcpdump.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await sleep(50);
  for (let conn = 0; conn < 3; conn++) {
    await new Promise<void>((resolve, reject) => {
      const c = connect(port, host, () => {
        for (let i = 0; i < 40; i++) c.write(Buffer.alloc(5000 + i, i));
        c.end();
      });
      c.on('close', () => resolve());
      c.on('error', reject);
    });
  }
  await sleep(300);
  tcpdump.kill('SIGINT');
  await new Promise((r) => tcpdump.on('exit', r));
  server.close();
  assert.match(stderr, /\b0 packets dropped by kernel/, 'tcpdump must see every packet');
  return file;
}


/**
 * tcpdump beside a live capture: the independent witness of how many packets `filter`
 * matched on `iface` (`-B` KiB of buffer, --immediate-mode so the last packets are counted
 * before SIGINT). stop() gives its count and its kernel drops, from its closing lines.
 */
export async function startTcpdump(
  iface: string,
  filter: string,
  bufferKiB = 8192,
): Promise<{ stop: () => Promise<{ captured: number; dropped: number }> }> {
  const child = spawn('tcpdump', ['-i', iface, '-B', String(bufferKiB), '--immediate-mode', '-nn', '-w', '/dev/null', filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
  for (let i = 0; i < 200 && !/listening on/.test(text) && child.exitCode === null; i++) await sleep(50);
  assert.ok(/listening on/.test(text) && child.exitCode === null, `tcpdump started: ${text}`);
  return {
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      const captured = /(\d+) packets? captured/.exec(text);
      const dropped = /(\d+) packets? dropped by kernel/.exec(text);
      assert.ok(captured && dropped, `tcpdump's counts: ${text}`);
      return { captured: Number(captured[1]), dropped: Number(dropped[1]) };
    },
  };
}

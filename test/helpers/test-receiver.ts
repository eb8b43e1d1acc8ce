import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { startReceiver, type Receiver } from '../../sender/receiver.js';

/**
 * Receivers for the C sender tests: `ackscope receive` (sender/receiver.ts) in-process, with a
 * promise for "the sender's connection has ended", and a receiver that resets the
 * connection (RST) once it has read a given number of bytes.
 */
export interface TestReceiver {
  sink: Receiver;
  port: number;
  /** Bytes read so far, over all connections. */
  received(): number;
  /** Resolves when `n` connections have ended (FIN or reset). */
  connectionsEnded(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTestReceiver(options: { readDelayMs?: number; host?: string } = {}): Promise<TestReceiver> {
  let ended = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const sink = await startReceiver({
    port: 0,
    host: options.host,
    readDelayMs: options.readDelayMs,
    onConnectionEnd: () => {
      ended++;
      for (const w of waiters.filter((x) => ended >= x.n)) w.resolve();
    },
  });
  return {
    sink,
    port: sink.port,
    received: () => sink.stats.bytes,
    connectionsEnded: (n) => (ended >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    close: () => sink.close(),
  };
}

/** Reads and discards until a connection has read `resetAfterBytes`, then resets it. */
export async function startResettingReceiver(resetAfterBytes: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((socket) => {
    let read = 0;
    socket.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read >= resetAfterBytes) socket.resetAndDestroy();
    });
    socket.on('error', () => {}); // the reset is the point
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('receiver has no port');
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

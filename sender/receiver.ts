import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ReceiverOptions {
  /** 0 picks a free port (see Receiver.port). */
  port: number;
  host?: string;
  /** After each chunk read, stop reading for this long: a slow reader. */
  readDelayMs?: number;
  /**
   * Stop reading a connection for good after this many bytes: the kernel receive
   * buffer fills and the peer sees a zero window (a full receive window on purpose).
   */
  pauseAfterBytes?: number;
  /**
   * With pauseAfterBytes: stop reading for this long only, then read normally to the
   * end (once per connection). Without it the pause lasts until the connection closes.
   */
  pauseMs?: number;
  /** Called when a connection closes, with what it read. */
  onConnectionEnd?: (info: { remote: string; bytes: number }) => void;
}

export interface ReceiverStats {
  connections: number;
  open: number;
  bytes: number;
  /** Connections that stopped reading at pauseAfterBytes. */
  pauses: number;
}

export interface Receiver {
  readonly port: number;
  readonly host: string;
  readonly stats: ReceiverStats;
  /** Open connections (e.g. to reset one in a test with resetAndDestroy()). */
  readonly sockets: ReadonlySet<Socket>;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

/**
 * A TCP receiver that reads and discards, as `ackscope receive` and in-process for
 * experiments. It can read slowly or stop reading to fill the receive window.
 */
export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const host = options.host ?? '127.0.0.1';
  const stats: ReceiverStats = { connections: 0, open: 0, bytes: 0, pauses: 0 };
  const sockets = new Set<Socket>();
  const delay = options.readDelayMs ?? 0;
  const pauseAfter = options.pauseAfterBytes;
  const pauseMs = options.pauseMs;

  const server: Server = createServer((socket) => {
    stats.connections++;
    stats.open++;
    sockets.add(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    let bytes = 0;
    let stopped = false;
    let paused = false; // the pauseAfterBytes pause has happened (it happens once)
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      stats.bytes += chunk.length;
      if (pauseAfter !== undefined && !paused && bytes >= pauseAfter) {
        paused = true;
        stopped = true;
        stats.pauses++;
        socket.pause(); // the receive buffer fills, the window closes
        if (pauseMs !== undefined) {
          setTimeout(() => {
            stopped = false;
            if (!socket.destroyed) socket.resume();
          }, pauseMs);
        }
        return;
      }
      if (delay > 0) {
        socket.pause();
        setTimeout(() => {
          if (!stopped && !socket.destroyed) socket.resume();
        }, delay);
      }
    });
    socket.on('error', () => {}); // a peer reset is a normal end for a sink
    socket.on('close', () => {
      stats.open--;
      sockets.delete(socket);
      options.onConnectionEnd?.({ remote, bytes });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    port: address.port,
    host: address.address,
    stats,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

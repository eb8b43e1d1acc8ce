import { Command } from '@commander-js/extra-typings';
import { parseBytes, parsePositiveInt } from './send.js';

/**
 * `ackscope receive --port P` (alias `sink`): a receiver that reads and discards. --read-delay-ms makes it
 * a slow reader; --pause-after-bytes makes it stop reading each connection after that
 * many bytes, so the receive window fills on purpose (for --pause-ms, or for good).
 * Prints (stderr) one line when listening and one per connection end. Runs until
 * SIGINT/SIGTERM.
 */
export function receiveCommand() {
  return new Command('receive')
    .alias('sink')
    .description('receive TCP connections and discard what they send (optionally slowly, or stop reading)')
    .requiredOption('--port <port>', 'port to listen on')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--read-delay-ms <ms>', 'pause this long after each chunk read (a slow reader)')
    .option('--pause-after-bytes <bytes>', 'stop reading a connection after this many bytes (fills the receive window)')
    .option('--pause-ms <ms>', 'with --pause-after-bytes: resume reading after this long (default: never)')
    .action(async (o) => {
      const { startReceiver } = await import('../sender/receiver.js');
      const port = Number(o.port);
      const sink = await startReceiver({
        port: Number.isInteger(port) && port >= 0 && port <= 65535 ? port : parsePositiveInt(o.port, 'port'),
        host: o.host,
        readDelayMs: o.readDelayMs === undefined ? undefined : parsePositiveInt(o.readDelayMs, 'read-delay-ms'),
        pauseAfterBytes: o.pauseAfterBytes === undefined ? undefined : parseBytes(o.pauseAfterBytes, 'pause-after-bytes'),
        pauseMs: o.pauseMs === undefined ? undefined : parsePositiveInt(o.pauseMs, 'pause-ms'),
        onConnectionEnd: ({ remote, bytes }) => console.error(`sink: ${remote} closed after ${bytes} bytes`),
      });
      console.error(`sink: listening on ${sink.host}:${sink.port}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await sink.close();
      console.error(`sink: ${sink.stats.connections} connections, ${sink.stats.bytes} bytes`);
    });
}

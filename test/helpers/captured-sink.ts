import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from './app.js';
import { startTestSink, type TestSink } from './receiver.js';
import { startTcpdump } from './wire.js';

/**
 * The scaffold of the C-sender tests that check the wire: a test sink on loopback, and
 * tcpdump writing what goes to its port into wire.pcap in a temporary folder.
 */
export interface CapturedSink {
  /** The temporary folder (wire.pcap is in it; records may go there too). */
  dir: string;
  receiver: TestSink;
  pcap: string;
  /** Waits until the sender's connection has ended, then stops the capture: it must have dropped nothing. */
  trafficEnded(): Promise<void>;
}

/** Runs `body` with a captured sink; afterwards, whatever happened, stops the capture and the sink and removes the folder. */
export async function withCapturedSink(
  sinkOptions: { readDelayMs?: number },
  body: (c: CapturedSink) => Promise<void>,
): Promise<void> {
  const t = tempDir();
  const receiver = await startTestSink(sinkOptions);
  const pcap = join(t.dir, 'wire.pcap');
  const dump = await startTcpdump('lo', pcap, `tcp port ${receiver.port}`);
  try {
    await body({
      dir: t.dir,
      receiver,
      pcap,
      async trafficEnded() {
        await receiver.connectionsEnded(1);
        assert.equal(await dump.stop(), 0, 'tcpdump dropped nothing');
      },
    });
  } finally {
    await dump.stop();
    await receiver.close();
    t.cleanup();
  }
}

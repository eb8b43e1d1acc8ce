import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from './app.js';
import { startTestReceiver, type TestReceiver } from './test-receiver.js';
import { startTcpdump } from './wire.js';

/**
 * The scaffold of the C-sender tests that check the wire: a test receiver on loopback, and
 * tcpdump writing what goes to its port into wire.pcap in a temporary folder.
 */
export interface CapturedReceiver {
  /** The temporary folder (wire.pcap is in it; records may go there too). */
  dir: string;
  receiver: TestReceiver;
  pcap: string;
  /** Waits until the sender's connection has ended, then stops the capture: it must have dropped nothing. */
  trafficEnded(): Promise<void>;
}

/** Runs `body` with a captured sink; afterwards, whatever happened, stops the capture and the sink and removes the folder. */
export async function withCapturedReceiver(
  sinkOptions: { readDelayMs?: number },
  body: (c: CapturedReceiver) => Promise<void>,
): Promise<void> {
  const t = tempDir();
  const receiver = await startTestReceiver(sinkOptions);
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

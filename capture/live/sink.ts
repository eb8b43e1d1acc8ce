/**
 * Where a live session's frames go: rows through capture-core's SessionFrameWriter and
 * the raw capture through its pcapng writer. One object so the worker has one thing to
 * feed, flush and finish.
 */
import type { Db } from '../../db/connection.js';
import { SessionFrameWriter } from '../ingest.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { forEachFrame } from '../native/index.js';
import type { FrameCounts } from './protocol.js';

export class LiveSessionSink {
  private readonly rows: SessionFrameWriter;
  private readonly file: PcapngWriter;
  private readonly interfaceId: number;

  constructor(
    db: Db,
    sessionId: number,
    captureFile: string,
    private readonly linkType: number,
    snaplen: number,
    device: string,
  ) {
    this.file = PcapngWriter.toFile(captureFile);
    this.interfaceId = this.file.addInterface({ linkType, snaplen, name: device });
    this.rows = new SessionFrameWriter(db, sessionId);
  }

  /** One batch from the addon (capture/native forEachFrame has the layout). */
  addBatch(records: Buffer): void {
    forEachFrame(records, (tsNs, caplen, wirelen, bytes, offset, view) => {
      // One DataView per batch, not one per frame (addFrame would make one per frame).
      this.rows.addFrameView(this.linkType, tsNs, caplen, wirelen, view, offset);
      this.file.writePacket(this.interfaceId, tsNs, bytes, offset, caplen, wirelen);
    });
  }

  /** Commits pending rows (one transaction) and writes buffered pcapng blocks. */
  flush(): void {
    this.rows.flush();
    this.file.flush();
  }

  /** Final commit, counters into the sessions row, file closed. */
  finish(): FrameCounts {
    try {
      this.rows.finish();
    } finally {
      this.file.close();
    }
    return this.counts();
  }

  counts(): FrameCounts {
    return { frames: this.rows.counters.frames, tcp: this.rows.counters.tcp };
  }
}

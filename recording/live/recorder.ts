/**
 * Where a live session's frames go: rows through FrameWriter and
 * the raw capture through its pcapng writer. One object so the worker has one thing to
 * feed, flush and finish.
 */
import type { Db } from '../../db/connection.js';
import { FrameWriter } from '../../db/frame-writer.js';
import { PcapngWriter } from '../../capture/pcap/pcapng-writer.js';
import { forEachFrame } from '../../capture/native/index.js';
import type { FrameCounts } from './protocol.js';

interface BatchFrame {
  tsNs: bigint;
  caplen: number;
  wirelen: number;
  bytes: Buffer;
  offset: number;
  view: DataView;
}

export class CaptureRecorder {
  private readonly rows: FrameWriter;
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
    this.rows = new FrameWriter(db, sessionId);
  }

  /**
   * One batch from the addon (capture/native forEachFrame has the layout), stored in
   * kernel-timestamp order. On `lo` a frame is stamped when it is queued to a CPU's
   * backlog but reaches the packet socket when that backlog is processed, so a sender
   * that moves between CPUs can have its segments delivered out of stamp order (seen
   * here: stamps going backwards in capture order). Taken as delivered, a later segment
   * would pass the first-transmission mark first and the earlier one would look like a
   * retransmission, leaving its bytes "never captured". Sorting costs nothing when the
   * batch is already in order, the usual case.
   */
  addBatch(records: Buffer): void {
    const frames: BatchFrame[] = [];
    let inOrder = true;
    forEachFrame(records, (tsNs, caplen, wirelen, bytes, offset, view) => {
      if (frames.length > 0 && tsNs < frames[frames.length - 1].tsNs) inOrder = false;
      frames.push({ tsNs, caplen, wirelen, bytes, offset, view });
    });
    // Array.prototype.sort is stable: equal stamps keep their capture order.
    if (!inOrder) frames.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
    for (const f of frames) {
      // One DataView per batch, not one per frame (addFrame would make one per frame).
      this.rows.addFrameView(this.linkType, f.tsNs, f.caplen, f.wirelen, f.view, f.offset);
      this.file.writePacket(this.interfaceId, f.tsNs, f.bytes, f.offset, f.caplen, f.wirelen);
    }
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

/**
 * Where a live session's frames go: rows through the frame writer of the session's store
 * (SQLite's FrameWriter, or ClickHouseLiveRows) and the raw capture through its pcapng
 * writer. One object so the worker has one thing to feed, flush and finish.
 */
import type { SessionCounters } from '../../capture/frame-packer.js';
import { PcapngWriter } from '../../capture/pcap/pcapng-writer.js';
import { forEachFrame } from '../../capture/native/index.js';
import type { FrameCounts } from './protocol.js';
import { ReorderWindow } from './reorder.js';

/**
 * How far behind the newest stamp a frame may still arrive and be stored in order. The
 * disorder on `lo` is a backlog's processing delay: microseconds when idle, milliseconds
 * on a loaded 2-core machine; 50 ms is far above both and only delays rows by as much.
 */
const REORDER_BOUND_NS = 50_000_000n;
/**
 * A frame is at most the addon's batch delay (20 ms) plus its read timeout (10 ms) from
 * stamp to delivery: one held this long by the wall clock has no earlier frame to wait for.
 */
const QUIET_RELEASE_NS = 250_000_000n;
/** Frames held at most (~ 50 ms at 1.3 M frames/s); beyond it the oldest are stored. */
const REORDER_CAPACITY_FRAMES = 65536;

/** The rows' side of a recorder: what SQLite's FrameWriter (db/frame-writer.ts) offers, and ClickHouseLiveRows. */
export interface LiveFrameRows {
  addFrameView(linkType: number, tsNs: bigint, caplen: number, wirelen: number, view: DataView, byteOffset: number): void;
  /** Stores (or hands over) what is pending; throws when the store failed. */
  flush(): void;
  /** The last rows; what follows (a ClickHouse queue draining) is the writer's own to wait for. */
  finish(): SessionCounters;
  readonly counters: SessionCounters;
}

interface BatchFrame {
  tsNs: bigint;
  caplen: number;
  wirelen: number;
  bytes: Buffer;
  offset: number;
  view: DataView;
}

export class CaptureRecorder {
  private readonly file: PcapngWriter;
  private readonly interfaceId: number;
  private readonly window = new ReorderWindow<BatchFrame>(REORDER_BOUND_NS, REORDER_CAPACITY_FRAMES);
  private batchesSinceFlush = 0;
  /** Flushes in a row with no batch between them. */
  private quietFlushes = 0;

  constructor(
    private readonly rows: LiveFrameRows,
    captureFile: string,
    private readonly linkType: number,
    snaplen: number,
    device: string,
  ) {
    this.file = PcapngWriter.toFile(captureFile);
    this.interfaceId = this.file.addInterface({ linkType, snaplen, name: device });
  }

  /**
   * One batch from the addon (capture/native forEachFrame has the layout). Frames go
   * through the reorder window (reorder.ts): stored in kernel-timestamp order even when
   * the disorder straddles two batches. A held frame keeps a view of its batch Buffer,
   * which the addon gave away (nothing reuses it).
   */
  addBatch(records: Buffer): void {
    const frames: BatchFrame[] = [];
    forEachFrame(records, (tsNs, caplen, wirelen, bytes, offset, view) => {
      frames.push({ tsNs, caplen, wirelen, bytes, offset, view });
    });
    this.batchesSinceFlush++;
    this.store(this.window.push(frames));
  }

  /**
   * Commits pending rows (one transaction) and writes buffered pcapng blocks. With the
   * wall clock `nowNs` (the worker's timer) and a capture gone quiet, frames held longer
   * than QUIET_RELEASE_NS go first, so its last frames still show.
   */
  flush(nowNs?: bigint): void {
    if (nowNs !== undefined) {
      // Only once no batch came for two flushes in a row: a worker stalled (a long batch,
      // a busy database) runs its timer before the batches queued meanwhile, and those
      // may hold the frames the held ones wait for.
      this.quietFlushes = this.batchesSinceFlush === 0 ? this.quietFlushes + 1 : 0;
      this.batchesSinceFlush = 0;
      if (this.quietFlushes >= 2) this.store(this.window.releaseBefore(nowNs - QUIET_RELEASE_NS));
    }
    this.rows.flush();
    this.file.flush();
  }

  /** Final commit (every frame held included), counters into the sessions row, file closed. */
  finish(): FrameCounts {
    try {
      this.store(this.window.drain());
      this.rows.finish();
    } finally {
      this.file.close();
    }
    return this.counts();
  }

  /** Frames that arrived behind frames already stored (beyond the reorder window). */
  get lateFrames(): number {
    return this.window.late;
  }

  private store(frames: BatchFrame[]): void {
    for (const f of frames) {
      // One DataView per batch, not one per frame (addFrame would make one per frame).
      this.rows.addFrameView(this.linkType, f.tsNs, f.caplen, f.wirelen, f.view, f.offset);
      this.file.writePacket(this.interfaceId, f.tsNs, f.bytes, f.offset, f.caplen, f.wirelen);
    }
  }

  counts(): FrameCounts {
    return { frames: this.rows.counters.frames, tcp: this.rows.counters.tcp };
  }
}

/**
 * A live capture's rows on the ClickHouse store: the frame writer's decoding half
 * (FramePacker) on the capture worker's thread, each flush's batch written by
 * ClickHouseFrameBatches as its own inserts (readable once written: the session
 * correlates while it captures), one batch after another in capture order. The worker
 * feeds it as it feeds SQLite's FrameWriter (the recorder's LiveFrameRows).
 *
 * Its frame numbers and flow ids are blocks claimed before the batch that needs them is
 * written (clickhouse/id-blocks.ts): another host may capture into the same session at
 * the same time, and the two never take the same ids.
 *
 * The inserts are asynchronous while libpcap's batches keep coming: batches wait in a
 * queue of at most MAX_QUEUED_BATCHES; a store that falls further behind, or refuses a
 * write, fails the capture (flush() throws, as SQLite's disk-full does), keeping what was
 * stored.
 */
import { emptyCounters, FramePacker, type PackedFrames, type SessionCounters } from '../../capture/frame-packer.js';
import { AckscopeError } from '../../core/errors.js';
import type { ClickHouseClient } from '../../clickhouse/http-client.js';
import { ClickHouseFrameBatches } from '../../clickhouse/frame-batches.js';
import { FLOW_BLOCK, FRAME_BLOCK, IdBlocks, claimBlocksUpTo } from '../../clickhouse/id-blocks.js';
import type { LiveFrameRows } from './recorder.js';

/**
 * Batches waiting for the store before the capture fails: with a flush every second,
 * about a minute of a store that does not answer (a batch is also cut every 20000
 * frames, so at most 1.2 M frames held, ~190 MB of columns).
 */
const MAX_QUEUED_BATCHES = 60;

export class ClickHouseLiveRows implements LiveFrameRows {
  private readonly packer = new FramePacker({ resume: emptyCounters() });
  private readonly writer: ClickHouseFrameBatches;
  /** This capture's frame numbers and flow ids, claimed in blocks as it needs them (other hosts may capture into the session at once). */
  private readonly frameIds = new IdBlocks(FRAME_BLOCK);
  private readonly flowIds = new IdBlocks(FLOW_BLOCK);
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private framesReported = 0;
  failure: Error | null = null;

  /** `onStored`: the counters once every frame they count is stored (the session row's columns follow them). */
  constructor(
    private readonly client: ClickHouseClient,
    private readonly target: { sessionId: number; host: string },
    private readonly onStored: (counters: SessionCounters) => void,
  ) {
    this.writer = new ClickHouseFrameBatches(client, { ...target, frameIds: this.frameIds, flowIds: this.flowIds }, 'each batch');
  }

  get counters(): SessionCounters {
    return this.packer.counters;
  }

  addFrameView(linkType: number, tsNs: bigint, caplen: number, wirelen: number, view: DataView, byteOffset: number): void {
    this.packer.add(linkType, tsNs, caplen, wirelen, view, byteOffset);
    if (this.packer.full) this.flush();
  }

  /** Hands what is packed to the store's queue; throws once a write failed or the queue is full. */
  flush(): void {
    if (this.failure) throw this.failure;
    if (this.queued >= MAX_QUEUED_BATCHES) {
      this.failure = new AckscopeError(
        'ACKSCOPE_ERR_STORE_UNREACHABLE',
        `the ClickHouse store fell behind the capture: ${this.queued} batches wait to be written`,
      );
      throw this.failure;
    }
    this.enqueue(this.packer.take());
  }

  /** The last batch (every row held included) handed to the queue; settled() waits for it. */
  finish(): SessionCounters {
    if (!this.failure) this.enqueue(this.packer.take(true));
    return this.packer.counters;
  }

  /** Resolves when every batch handed over is stored; rejects with the first failure. */
  async settled(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }

  private enqueue(batch: PackedFrames): void {
    const counters = batch.counters;
    const hasRows = batch.count > 0 || batch.newFlows.length > 0 || batch.flowUpdates.length > 0 || batch.sentAdvances.count > 0 || batch.ackAdvances.count > 0;
    // nothing read since the last report: no write, no new session version (an idle
    // capture would otherwise bump the session, and the correlation cache with it)
    if (!hasRows && counters.frames === this.framesReported) return;
    this.queued++;
    this.tail = this.tail.then(async () => {
      try {
        if (this.failure) return;
        if (hasRows) {
          const { sessionId, host } = this.target;
          await claimBlocksUpTo(this.client, sessionId, host, 'frames', this.frameIds, counters.frames);
          await claimBlocksUpTo(this.client, sessionId, host, 'flows', this.flowIds, counters.flows);
          await this.writer.write(batch);
        }
        if (counters.frames !== this.framesReported) {
          this.framesReported = counters.frames;
          this.onStored(counters);
        }
      } catch (err) {
        this.failure ??= err as Error;
      } finally {
        this.queued--;
      }
    });
  }
}

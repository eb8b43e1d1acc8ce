/**
 * The frame writer's writing half on ClickHouse (db/frame-rows.ts is SQLite's): the
 * packer's batches (capture/frame-packer.ts) encoded by frame-batch-encoding.ts and sent
 * as RowBinary inserts, one per table, in one of two ways:
 *
 * - `each batch` (live capture): every batch is its own insert per table, so its rows
 *   are readable once write() resolved (a correlation during the capture sees them).
 *   Frames go last, after the batch's other tables: the correlation's fingerprint reads
 *   the highest frame number, so a fingerprint that shows a batch's frames was taken
 *   after the rest of that batch was stored.
 * - `one stream per table` (file import): one insert per table for the whole import,
 *   its body fed batch by batch (a streamed HTTP request). The server forms its blocks
 *   (and parts) of up to a million rows, instead of one part per table per batch, and
 *   each request's overhead is paid once. Rows become readable as the server commits
 *   those blocks; an import is all or nothing by deleting what it wrote when it fails
 *   (deleteWrittenRows).
 *
 * A batch's rows are not one transaction here (ClickHouse has none): a service killed
 * mid-batch leaves that batch's rows of the tables already sent.
 */
import type { PackedFrames } from '../capture/frame-packer.js';
import type { ClickHouseClient } from './http-client.js';
import { insertSettings } from './copy-session.js';
import { identifier, joinSql, literal, qualifiedTable, sql, type Sql } from './sql.js';
import { LOCAL_SUFFIX, TABLES } from './tables.js';
import { FRAME_BATCH_TABLES, FrameBatchEncoder, type FrameBatchTable, type FrameBatchTarget } from './frame-batch-encoding.js';

export { FRAME_BATCH_TABLES, type FrameBatchTarget };

/** Bytes a table's stream may hold unsent before write() waits (back-pressure on the import). */
const STREAM_BACKLOG_BYTES = 16 << 20;

function insertStatement(client: ClickHouseClient, table: FrameBatchTable): Sql {
  const columns = joinSql(TABLES[table].columns.map((c) => identifier(c.name)), ', ');
  return sql`INSERT INTO ${qualifiedTable(client.config.database, table)} (${columns}) FORMAT RowBinary`;
}

/** One insert whose body is fed as batches come: push() chunks, end() it, await done. */
class InsertStream {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private wakeBody: (() => void) | null = null;
  private roomWaiters: (() => void)[] = [];
  failure: Error | null = null;
  readonly done: Promise<void>;

  constructor(client: ClickHouseClient, table: FrameBatchTable) {
    this.done = client.insert(insertStatement(client, table), this.body(), { settings: insertSettings(client) }).catch((err: Error) => {
      this.failure = err;
      this.wakeRoom();
      throw err;
    });
    this.done.catch(() => undefined); // read through `failure` and by whoever awaits done
  }

  private async *body(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        this.queued -= chunk.length;
        if (this.queued < STREAM_BACKLOG_BYTES) this.wakeRoom();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wakeBody = resolve));
      this.wakeBody = null;
    }
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wakeBody?.();
  }

  /** Resolves once the backlog is below the mark (or the insert failed). */
  room(): Promise<void> {
    if (this.queued < STREAM_BACKLOG_BYTES || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  end(): void {
    this.ended = true;
    this.wakeBody?.();
  }

  private wakeRoom(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }
}

export type FrameBatchMode = 'each batch' | 'one stream per table';

/** Writes a session's packed batches into ClickHouse: write() each in order, then finish() (or abort()). */
export class ClickHouseFrameBatches {
  private readonly encoder: FrameBatchEncoder;
  private readonly streams = new Map<FrameBatchTable, InsertStream>();

  constructor(
    private readonly client: ClickHouseClient,
    readonly target: FrameBatchTarget,
    readonly mode: FrameBatchMode,
  ) {
    this.encoder = new FrameBatchEncoder(target);
  }

  /** Whether any row was handed to the server (a failed import with none has nothing to delete). */
  get wroteAny(): boolean {
    return this.streams.size > 0 || this.sentEach;
  }
  private sentEach = false;

  /** Encodes the batch and sends it (each batch) or queues it on the streams (waiting while they are backed up). */
  async write(batch: PackedFrames): Promise<void> {
    const encoded = this.encoder.encode(batch);
    if (this.mode === 'each batch') {
      this.sentEach ||= encoded.size > 0;
      const { frames, ...rest } = Object.fromEntries(encoded) as Partial<Record<FrameBatchTable, Buffer>>;
      await Promise.all(Object.entries(rest).map(([table, bytes]) => this.insertNow(table as FrameBatchTable, bytes)));
      if (frames) await this.insertNow('frames', frames);
      return;
    }
    for (const [table, bytes] of encoded) {
      let stream = this.streams.get(table);
      if (!stream) this.streams.set(table, (stream = new InsertStream(this.client, table)));
      if (stream.failure) throw stream.failure;
      stream.push(bytes);
    }
    for (const stream of this.streams.values()) await stream.room();
    for (const stream of this.streams.values()) if (stream.failure) throw stream.failure;
  }

  /** Ends the streams and waits until the server has every row (each batch: nothing left to wait for). */
  async finish(): Promise<void> {
    for (const stream of this.streams.values()) stream.end();
    await Promise.all([...this.streams.values()].map((s) => s.done));
  }

  /** Ends the streams and waits for them to settle, failed or not: the caller then deletes what was written. */
  async abort(): Promise<void> {
    for (const stream of this.streams.values()) stream.end();
    await Promise.allSettled([...this.streams.values()].map((s) => s.done));
  }

  private async insertNow(table: FrameBatchTable, bytes: Buffer): Promise<void> {
    await this.client.insert(insertStatement(this.client, table), [bytes], { settings: insertSettings(this.client) });
  }
}

/**
 * Deletes what one writer wrote into a session (a failed import): every row of the
 * session's frame tables whose flow id lies above `flowBase` (frames also by frame
 * number above `frameBase`), so the rows of a host that captured into the session before
 * stay. One mutation per table on every shard, waited for by the caller
 * (sessions.ts waitForMutations).
 */
export async function deleteWrittenRows(client: ClickHouseClient, target: FrameBatchTarget): Promise<void> {
  const local = client.config.cluster !== undefined;
  const session = literal(target.sessionId, 'UInt64');
  const flowBase = literal(target.flowBase ?? 0, 'UInt64');
  const frameBase = literal(target.frameBase ?? 0, 'UInt64');
  for (let host = 0; host < client.hostCount; host++) {
    for (const table of FRAME_BATCH_TABLES) {
      const name = identifier(local ? table + LOCAL_SUFFIX : table);
      const mine = table === 'frames' ? sql`frame_no > ${frameBase}` : sql`flow_id > ${flowBase}`;
      await client.query(sql`ALTER TABLE ${name} DELETE WHERE session_id = ${session} AND ${mine}`, { host });
    }
  }
}


/**
 * Frame numbers and flow ids of a live capture, taken in blocks claimed through the id
 * claims (id-claims.ts, counters 'frames' and 'flows' under the session's id), so that
 * several hosts capturing into one session at the same time never write the same
 * frame_no or flow_id (docs/scale-out.md, "Many hosts, one session").
 *
 * The packer numbers a capture's frames and flows 1, 2, … (capture/frame-packer.ts); the
 * k-th block of `size` of them maps onto the k-th block this capture claimed. Without a
 * rival the blocks follow one another from 1, so a host capturing alone numbers exactly
 * as SQLite does; beside another host, each host's numbers stay in its blocks: frames of
 * one flow keep their capture order (every flow is one host's, its frames in one
 * capture's order), the session's frame numbers have gaps (a block's unused tail), and
 * readers page by cursor (`frame_no >` the last), never by count.
 */
import { AckscopeError } from '../core/errors.js';
import { FRAMES_PER_SESSION } from '../core/frame-id.js';
import type { ClickHouseClient } from './http-client.js';
import { claimIds, type IdKind } from './id-claims.js';
import { identifier, literal, sql } from './sql.js';

/** Frame numbers per claim: a claim (three round trips) per million frames captured. */
export const FRAME_BLOCK = 1 << 20;
/** Flow ids per claim. */
export const FLOW_BLOCK = 1 << 10;

/** The blocks one capture claimed of one counter: the packer's numbers → the stored ids. */
export class IdBlocks {
  /** The stored id of each block's first number. */
  private readonly starts: number[] = [];

  constructor(readonly size: number) {}

  /** How many of the packer's numbers the claimed blocks cover (1 … covered). */
  get covered(): number {
    return this.starts.length * this.size;
  }

  add(firstId: number): void {
    this.starts.push(firstId);
  }

  /** The stored id of the packer's number `n` (≥ 1; 0 stays 0). */
  at(n: number): number {
    if (n <= 0) return 0;
    const k = Math.floor((n - 1) / this.size);
    const start = this.starts[k];
    if (start === undefined) throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `number ${n} lies past the ${this.starts.length} block(s) claimed`);
    return start + (n - 1 - k * this.size);
  }
}

/**
 * Claims blocks until `blocks` covers the packer's numbers up to `upTo`. Frame numbers
 * stay below 2^32 (a frame's id in the API is session · 2^32 + frame_no, as on SQLite).
 */
export async function claimBlocksUpTo(
  client: ClickHouseClient,
  sessionId: number,
  host: string,
  kind: Exclude<IdKind, ''>,
  blocks: IdBlocks,
  upTo: number,
): Promise<void> {
  const table = identifier(kind);
  const column = identifier(kind === 'frames' ? 'frame_no' : 'flow_id');
  // rows written without claims (an import into the session) are past too
  const highestStored = async () => {
    const [[max]] = await client.rows(sql`SELECT max(${column}) FROM ${table} WHERE session_id = ${literal(sessionId, 'UInt64')}`);
    return Number(max);
  };
  while (blocks.covered < upTo) {
    const first = await claimIds(client, sessionId, blocks.size, host, highestStored, kind);
    if (kind === 'frames' && first + blocks.size - 1 >= FRAMES_PER_SESSION) {
      throw new AckscopeError('ACKSCOPE_ERR_CAPTURE_FAILED', `session ${sessionId} has no frame numbers left (2^32 per session, every host's blocks together)`);
    }
    blocks.add(first);
  }
}

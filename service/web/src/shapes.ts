/**
 * What the page's own data routes (/ui/data/..., service/routes/web.ts) send: compact,
 * column-wise and already thinned, because a chart needs plain numbers, not the
 * public API's per-record objects with decimal-string nanoseconds. Shared by the server
 * and the browser bundle, so both sides agree on the field names.
 *
 * Times are microseconds (floats, ns precision) after `baseNs` (epoch ns, decimal string).
 */

/** `stage` columns hold indexes into STAGES (core/stages.ts). */
export { STAGES as STAGE_NAMES, type Stage as StageName } from '../../../core/stages.js';

export interface SessionListItem {
  id: number;
  name: string;
  kind: string;
  state: string;
  failureReason: string | null;
  createdAt: string;
  frames: number;
  tcp: number;
  completions: number;
  drops: { received: number | null; dropped: number | null; ifDropped: number | null };
}

export interface TimelineData {
  sessionId: number;
  /** null: the completions no captured flow matched. */
  flowId: number | null;
  baseNs: string;
  /** Writes of the flow, and how many of them the columns hold (fewer when thinned). */
  total: number;
  shown: number;
  writeId: number[];
  offsetStart: number[];
  offsetEnd: number[];
  submittedUs: number[];
  completedUs: number[];
  firstWireUs: (number | null)[];
  lastWireUs: (number | null)[];
  ackedUs: (number | null)[];
  /** Index into STAGE_NAMES. */
  stage: number[];
}

export interface SequenceData {
  sessionId: number;
  flowId: number;
  /** The direction whose bytes are drawn (0: a → b, 1: b → a); ACKs are the other one's. */
  dir: 0 | 1;
  baseNs: string;
  /** Data segments and advancing ACKs in the flow, and how many are drawn. */
  segmentsTotal: number;
  acksTotal: number;
  segments: { tUs: number[]; seqOff: number[]; endOff: number[]; retransmit: boolean[] };
  acks: { tUs: number[]; ackOff: number[] };
}

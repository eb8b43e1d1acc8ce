/**
 * Turns the tracer's event stream into what a session takes, a little at a time (pure):
 * completion records once (they are final when the call returns) and kernel witnesses
 * whenever they gained a moment (an ACK arrives after the call). Each take() joins every
 * event so far (tracer/join.ts), so a write's witness is complete however late its
 * moments come; the cost grows with the run (one join per take).
 */
import type { TraceStats } from '../core/kernel-witness.js';
import type { TracerEvent, UncoveredEvent } from './events.js';
import { joinMoments, type JoinResult, type KernelWitness, type TracedCompletionRecord, type WitnessMoment } from './join.js';

export interface WitnessPost extends KernelWitness {
  flow: TracedCompletionRecord['flow'];
  writeId: number;
}

export interface FeedTake {
  records: TracedCompletionRecord[];
  witnesses: WitnessPost[];
  missing: Record<WitnessMoment, number>;
  uncovered: UncoveredEvent[];
  lost: number;
  calls: number;
  momentsWithoutCall: number;
}

/** What the tracer said about itself, from the last take (stored with the session). */
export function traceStats(last: FeedTake, target: string, exitCode: number | null): TraceStats {
  return {
    target,
    lostEvents: last.lost,
    calls: last.calls,
    uncovered: last.uncovered.length,
    momentsWithoutCall: last.momentsWithoutCall,
    missing: last.missing,
    exitCode,
  };
}

export class TraceFeed {
  private readonly events: TracerEvent[] = [];
  private readonly posted = new Set<string>();
  private readonly witnessSent = new Map<string, string>();
  private momentsWithoutCall = 0;

  add(e: TracerEvent): void {
    if (e.type === 'stats') this.momentsWithoutCall = e.momentsWithoutAnchor;
    this.events.push(e);
  }

  /** What is new since the last take(). */
  take(): FeedTake {
    const joined: JoinResult = joinMoments(this.events);
    const records: TracedCompletionRecord[] = [];
    const witnesses: WitnessPost[] = [];
    for (const { record, kernel } of joined.completions) {
      const key = `${record.extra.flowId}/${record.writeId}`;
      if (!this.posted.has(key)) {
        this.posted.add(key);
        records.push(record);
      }
      const text = JSON.stringify(kernel);
      if (kernel.byte !== null && this.witnessSent.get(key) !== text) {
        this.witnessSent.set(key, text);
        witnesses.push({ flow: record.flow, writeId: record.writeId, ...kernel });
      }
    }
    return {
      records,
      witnesses,
      missing: joined.missing,
      uncovered: joined.uncovered,
      lost: joined.lost,
      calls: joined.completions.length,
      momentsWithoutCall: this.momentsWithoutCall,
    };
  }
}

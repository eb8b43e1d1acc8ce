/** Partial completions: the API reported fewer bytes than the write submitted. Pure. */
export interface PartialInput {
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  bytesReported: number;
  status: string;
}

export interface PartialExample {
  writeId: number;
  length: number;
  bytesReported: number;
  status: string;
}

export interface PartialResult {
  verdict: 'none' | 'found';
  completions: number;
  partial: number;
  examples: PartialExample[];
}

/**
 * Where the bytes a completion accepted end. A call that reports fewer bytes than it was
 * handed (a short `send`) never accepted the rest: its stage is decided on
 * [offsetStart, offsetStart + bytesReported), while the submitted range stays what the
 * partial verdict counts. (The rest goes out with a later call, which stages it.)
 */
export function acceptedEnd(offsetStart: number, offsetEnd: number, bytesReported: number): number {
  return bytesReported >= 0 && bytesReported < offsetEnd - offsetStart ? offsetStart + bytesReported : offsetEnd;
}

export function partialCompletions(rows: Iterable<PartialInput>, maxExamples = 5): PartialResult {
  let completions = 0;
  let partial = 0;
  const examples: PartialExample[] = [];
  for (const r of rows) {
    completions++;
    const length = r.offsetEnd - r.offsetStart;
    if (r.bytesReported >= length) continue;
    partial++;
    if (examples.length < maxExamples) {
      examples.push({ writeId: r.writeId, length, bytesReported: r.bytesReported, status: r.status });
    }
  }
  return { verdict: partial > 0 ? 'found' : 'none', completions, partial, examples };
}
